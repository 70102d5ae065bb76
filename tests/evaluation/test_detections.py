"""COCO AP on detected boxes (evaluation.detections), with a pose model that
needs no network: it places a fixed body template in each box, so what the
boxes do to AP is all there is to see."""

import json

import numpy as np
import pytest

from evaluation.coco_ap import coco_index
from evaluation.coco_ap import detections
from evaluation.coco_ap import keypoint_ap
from evaluation.detections import Detection
from evaluation.detections import detected_people
from evaluation.detections import oks_nms
from evaluation.detections import person_score
from evaluation.detections import read_detections_file
from evaluation.detections import usable_detections
from evaluation.ground_truth import EvaluationInputError
from tests.evaluation.test_coco_ap import LARGE_AREA
from tests.evaluation.test_coco_ap import standing_person

TEMPLATE_BOX = np.array([50.0, 10.0, 100.0, 210.0])
TEMPLATE = (standing_person(0) - TEMPLATE_BOX[:2]) / TEMPLATE_BOX[2:]


def scene():
    """Three people in two images; the third's wrists and ankles are wider
    apart than the template's, so even its true box gives an imperfect pose."""
    third = standing_person(0) + [0.0, 30.0]
    third[[9, 10, 15, 16]] += [[-40.0, 0.0], [40.0, 0.0], [-30.0, 0.0], [30.0, 0.0]]
    people = {
        (7, 0): (standing_person(0), [50.0, 10.0, 100.0, 210.0]),
        (7, 1): (standing_person(300), [350.0, 10.0, 100.0, 210.0]),
        (8, 0): (third, [50.0, 40.0, 100.0, 210.0]),
    }
    annotations = [
        {"id": index + 1, "image_id": image_id, "category_id": 1, "iscrowd": 0,
         "area": LARGE_AREA, "bbox": box, "num_keypoints": 17,
         "keypoints": np.c_[points, np.full(17, 2.0)].ravel().tolist()}
        for index, ((image_id, _), (points, box)) in enumerate(people.items())
    ]  # fmt: skip
    dataset = {
        "images": [
            {"id": i, "file_name": f"{i}.jpg", "width": 640, "height": 480}
            for i in (7, 8)
        ],  # fmt: skip
        "annotations": annotations,
        "categories": [{"id": 1, "name": "person"}],
    }
    boxes = {key: np.array(box) for key, (_, box) in people.items()}
    return coco_index(dataset), boxes


def template_pose(image, boxes):
    """The body template stretched over each box; every joint scores 0.9."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    keypoints = boxes[:, None, :2] + TEMPLATE[None] * boxes[:, None, 2:]
    return keypoints, np.full(keypoints.shape[:2], 0.9)


def ground_truth_box_ap(coco, boxes):
    keys = sorted(boxes)
    keypoints, scores = template_pose(None, np.stack([boxes[key] for key in keys]))
    return keypoint_ap(coco, detections(keypoints, scores, [k[0] for k in keys]))


def detected_box_ap(coco, found):
    """AP of {image: [(box, score)]} through the detected-box path."""
    grouped = {
        image: [Detection(image, tuple(box), score) for box, score in image_boxes]
        for image, image_boxes in found.items()
    }
    return keypoint_ap(coco, detected_people(grouped, template_pose), [7, 8])


def as_detections(boxes, score=1.0, jitter=None):
    found = {}
    for (image, _), box in sorted(boxes.items()):
        box = box if jitter is None else jitter(box)
        found.setdefault(image, []).append((box, score))
    return found


def test_ground_truth_boxes_as_detections_reproduce_the_ground_truth_box_ap():
    coco, boxes = scene()
    expected = ground_truth_box_ap(coco, boxes)
    assert 0.3 < expected["AP"] < 1.0  # the third pose is imperfect
    assert detected_box_ap(coco, as_detections(boxes)) == expected


def test_jittered_boxes_lower_ap():
    coco, boxes = scene()
    exact = detected_box_ap(coco, as_detections(boxes))
    jittered = detected_box_ap(
        coco, as_detections(boxes, jitter=lambda b: b + [12.0, -10.0, 15.0, 20.0])
    )
    assert jittered["AP"] < exact["AP"] - 0.1


def test_a_missed_person_lowers_recall():
    coco, boxes = scene()
    found = as_detections(boxes)
    exact = detected_box_ap(coco, found)
    found[7] = found[7][:1]
    missed = detected_box_ap(coco, found)
    assert missed["AR"] == pytest.approx(exact["AR"] - 1 / 3, abs=1e-6)


def test_a_false_detection_with_a_low_score_barely_moves_ap():
    coco, boxes = scene()
    found = as_detections(boxes)
    exact = detected_box_ap(coco, found)
    found[8].append((np.array([400.0, 200.0, 80.0, 160.0]), 0.05))
    with_false = detected_box_ap(coco, found)
    assert abs(with_false["AP"] - exact["AP"]) < 0.02
    found[8][-1] = (found[8][-1][0], 5.0)  # the same box ranked first
    assert detected_box_ap(coco, found)["AP"] < exact["AP"] - 0.1


def test_oks_nms_keeps_one_of_two_boxes_on_one_person():
    _, boxes = scene()
    duplicate = boxes[(7, 0)] + [2.0, 1.0, 0.0, 0.0]
    stacked = np.stack([boxes[(7, 0)], duplicate, boxes[(7, 1)]])
    keypoints, _ = template_pose(None, stacked)
    areas = stacked[:, 2] * stacked[:, 3]
    assert oks_nms(keypoints, [0.9, 0.8, 0.7], areas, 0.9) == [0, 2]
    assert oks_nms(keypoints, [0.8, 0.9, 0.7], areas, 0.9) == [1, 2]
    assert oks_nms(keypoints, [0.9, 0.8, 0.7], areas, 1.0) == [0, 1, 2]


def test_person_score_is_box_score_times_mean_confident_joint_score():
    assert person_score(0.5, [0.9, 0.1, 0.7]) == pytest.approx(0.5 * 0.8)
    assert person_score(0.5, [0.1, 0.05]) == 0.0


def test_unusable_entries_are_counted_by_reason():
    entries = [
        {"image_id": 7, "bbox": [0, 0, 50, 80], "score": 0.9},
        {"image_id": 7, "bbox": [0, 0, -50, 80], "score": 0.9},
        {"image_id": 7, "bbox": [0, 0, 2, 80], "score": 0.9},
        {"image_id": 7, "bbox": [0, 0, 50, float("nan")], "score": 0.9},
        {"image_id": "7.jpg", "bbox": [0, 0, 50, 80], "score": 0.1},
        {"image_id": 7, "bbox": [0, 0, 50, 80], "score": 0.9, "category_id": 3},
    ]
    usable, skipped = usable_detections(entries, score_threshold=0.3)
    assert usable == [Detection(7, (0.0, 0.0, 50.0, 80.0), 0.9)]
    assert skipped == {
        "box side under 4 px": 2, "box or score not finite": 1,
        "score under --detection-score-threshold": 1,
        "not a person (category_id is not 1)": 1,
    }  # fmt: skip


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "no such file"),
        ("[{", "is not valid JSON"),
        ('{"image_id": 1}', "expected a JSON list"),
        ('[{"image_id": 1, "score": 1}]', "entry 0: no 'bbox' field"),
        ('[{"image_id": 1, "bbox": [1, 2, 3], "score": 1}]', "entry 0: bbox must"),
        ('[{"image_id": true, "bbox": [1, 2, 3, 4], "score": 1}]', "image_id must"),
        ('[{"image_id": 1, "bbox": [1, 2, 3, 4], "score": "high"}]', "score must"),
    ],
)
def test_a_bad_detections_file_is_one_error_naming_it(tmp_path, content, message):
    path = tmp_path / "person_detections.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(EvaluationInputError, match=message) as raised:
        read_detections_file(path)
    assert str(raised.value).startswith(f"--detections {path}")
    assert "\n" not in str(raised.value)


def test_a_good_file_reads_back(tmp_path):
    path = tmp_path / "person_detections.json"
    entries = [{"image_id": 7, "bbox": [1, 2, 30, 40], "score": 0.5}]
    path.write_text(json.dumps(entries))
    assert read_detections_file(path) == entries
