"""COCO keypoint AP on hand-made ground truth and detections."""

import json
from types import SimpleNamespace

import numpy as np
import pytest

from evaluation.coco_ap import coco_index
from evaluation.coco_ap import detections
from evaluation.coco_ap import keypoint_ap
from evaluation.coco_ap import write_coco_ap
from evaluation.ground_truth import EvaluationInputError

LARGE_AREA = 150.0**2  # above COCO's 96^2 "large" limit


def standing_person(x_shift):
    """17 COCO keypoints of a 200 px tall person, all labelled and visible."""
    xs = 100 + x_shift + np.array([0, -5, 5, -10, 10, -30, 30, -40, 40, -45, 45,
                                   -20, 20, -22, 22, -24, 24], float)  # fmt: skip
    ys = np.array([20, 15, 15, 18, 18, 60, 60, 100, 100, 140, 140,
                   130, 130, 170, 170, 210, 210], float)  # fmt: skip
    return np.stack([xs, ys], axis=1)


def ground_truth():
    people = [standing_person(0), standing_person(300)]
    annotations = [
        {"id": 10 + i, "image_id": 7, "category_id": 1, "iscrowd": 0,
         "area": LARGE_AREA, "bbox": [50.0 + 300 * i, 10.0, 100.0, 210.0],
         "num_keypoints": 17,
         "keypoints": np.concatenate([p, np.full([17, 1], 2.0)], 1).ravel().tolist()}
        for i, p in enumerate(people)
    ]  # fmt: skip
    dataset = {
        "images": [{"id": 7, "file_name": "two.jpg", "width": 640, "height": 480}],
        "annotations": annotations,
        "categories": [{"id": 1, "name": "person"}],
    }
    return dataset, np.stack(people)


def test_perfect_detections_score_one():
    dataset, people = ground_truth()
    stats = keypoint_ap(
        coco_index(dataset), detections(people, np.full([2, 17], 0.9), [7, 7])
    )
    for name in ("AP", "AP50", "AP75", "APl", "AR"):
        assert stats[name] == pytest.approx(1.0), name
    assert stats["APm"] == -1.0  # no medium-sized ground truth


@pytest.mark.parametrize(
    "scores, expected_ap",
    [
        # Hit ranked first: precision 1 up to recall 0.5 -> 51 of 101 points.
        ((0.9, 0.8), 51 / 101),
        # Miss ranked first: precision 0.5 up to recall 0.5.
        ((0.8, 0.9), 0.5 * 51 / 101),
    ],
)
def test_one_hit_and_one_miss(scores, expected_ap):
    dataset, people = ground_truth()
    predicted = people.copy()
    predicted[1] += [0.0, 150.0]  # the second person 150 px too low: OKS ~ 0
    person_scores = np.array(scores)[:, None] * np.ones([2, 17])
    stats = keypoint_ap(
        coco_index(dataset), detections(predicted, person_scores, [7, 7])
    )
    assert stats["AP"] == pytest.approx(expected_ap, abs=1e-6)
    assert stats["AP50"] == pytest.approx(expected_ap, abs=1e-6)
    assert stats["AR"] == pytest.approx(0.5)


def test_evaluation_run_is_matched_to_the_annotations_file(tmp_path):
    dataset, people = ground_truth()
    path = tmp_path / "person_keypoints_val.json"
    path.write_text(json.dumps(dataset))
    run = SimpleNamespace(
        keypoints=people[None], scores=np.ones([1, 2, 17]),
        meta={"image_id": np.array(["two.jpg", "two.jpg"]),
              "person_index": np.array([0, 1]),
              "joints": people[::-1].astype(np.float32),  # records in another order
              "joints_annotated": np.ones([2, 17])},
    )  # fmt: skip
    # Each record finds its annotation (and so its COCO image id) by keypoints.
    assert write_coco_ap(tmp_path / "out", path, run)["AP"] == pytest.approx(1.0)
    table = (tmp_path / "out" / "coco_ap.md").read_text()
    assert "| 100.0 | 100.0 | 100.0 | n/a | 100.0 | 100.0 |" in table
    run.meta["joints"] = run.meta["joints"] + 3.0
    with pytest.raises(EvaluationInputError, match=r"person 0 \(two.jpg #0\)"):
        write_coco_ap(tmp_path / "out", path, run)
    with pytest.raises(EvaluationInputError, match="--coco-annotations"):
        write_coco_ap(tmp_path / "out", "", run)
