"""`hourglass-evaluate --metric coco-ap --detections`: a tiny 17-joint model
on generated COCO people, crops from a detections file's boxes."""

import json
import math

import pytest

from evaluation import evaluate
from evaluation.evaluate import EvalConfig
from evaluation.evaluate import run_evaluation
from keras_hourglass import build_stacked_hourglass
from keras_hourglass.joint_sets import COCO_17
from keras_hourglass.saving import save_model
from tests.custom_keypoint_helpers import write_synthetic_coco
from training import make_tfrecords


@pytest.fixture(scope="module")
def coco_case(tmp_path_factory):
    """(model, shard folder, validation COCO JSON) of 4 + 3 generated people."""
    folder = tmp_path_factory.mktemp("coco17")
    train = write_synthetic_coco(folder, 4, seed=1, first_id=101)
    valid = write_synthetic_coco(folder, 3, seed=0, first_id=1)
    make_tfrecords.main([
        "--format", "coco", "--annotations", str(train), "--valid-annotations",
        str(valid), "--images", str(folder / "images"), "--out", str(folder / "shards"),
    ])  # fmt: skip
    model = build_stacked_hourglass(
        n_stacks=1, n_joints=17, n_features=16, depth=1, input_shape=(64, 64, 3)
    )
    model_path = save_model(model, folder / "tiny17.keras", joint_set=COCO_17)
    return model_path, folder / "shards", valid


def ground_truth_boxes(annotation_path):
    coco = json.loads(annotation_path.read_text())
    return {a["image_id"]: a["bbox"] for a in coco["annotations"]}


def evaluate_with(case, out, monkeypatch, **flags):
    """`run_evaluation` with `--metric coco-ap` and `flags`."""
    model, data, annotations = case
    config = EvalConfig(
        model=str(model), data=str(data), out=str(out), metric="coco-ap",
        coco_annotations=str(annotations), num_examples=1, **flags,
    )  # fmt: skip
    return run_evaluation(config)


def test_ap_on_detected_boxes_counts_what_it_skipped(coco_case, tmp_path, monkeypatch):
    boxes = ground_truth_boxes(coco_case[2])
    entries = [{"image_id": i, "bbox": box, "score": 0.9, "category_id": 1}
               for i, box in boxes.items() if i != 3]  # fmt: skip
    entries += [
        {"image_id": "000000000003.jpg", "bbox": boxes[3], "score": 0.8},
        {"image_id": 999, "bbox": boxes[1], "score": 0.9},  # not in the JSON
        {"image_id": 101, "bbox": boxes[1], "score": 0.9},  # a training image
        {"image_id": 2, "bbox": [1.0, 2.0, math.nan, 40.0], "score": 0.9},
        {"image_id": 2, "bbox": [1.0, 2.0, -30.0, 40.0], "score": 0.9},
        {"image_id": 2, "bbox": [1.0, 2.0, 30.0, 40.0], "score": 0.01},
        {"image_id": 2, "bbox": [1.0, 2.0, 30.0, 40.0], "score": 0.9,
         "category_id": 18},
    ]  # fmt: skip
    path = tmp_path / "person_detections.json"
    path.write_text(json.dumps(entries))
    results = evaluate_with(
        coco_case, tmp_path / "detected", monkeypatch, detections=str(path),
        detection_score_threshold=0.05, oks_nms=0.9,
    )  # fmt: skip
    written = json.loads((tmp_path / "detected" / "coco_ap.json").read_text())
    assert written["boxes"] == "detected boxes"
    assert written["AP"] == results["coco_ap"]["AP"]
    assert written["detections_used"] == 3
    assert written["detections_skipped"] == {
        "unknown image id": 2, "box or score not finite": 1,
        "box side under 4 px": 1, "score under --detection-score-threshold": 1,
        "not a person (category_id is not 1)": 1,
    }  # fmt: skip
    table = (tmp_path / "detected" / "coco_ap.md").read_text()
    assert "detected boxes" in table and "3 detections used, 6 skipped" in table

    evaluate_with(coco_case, tmp_path / "truth", monkeypatch)
    written = json.loads((tmp_path / "truth" / "coco_ap.json").read_text())
    assert written["boxes"] == "ground-truth boxes"
    assert "ground-truth boxes" in (tmp_path / "truth" / "coco_ap.md").read_text()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--detections", "missing.json"], "--detections missing.json: no such file"),
        (["--detections", "{detections}", "--metric", "auto"],
         "needs --metric coco-ap"),
    ],
)  # fmt: skip
def test_detection_mistakes_are_one_line(coco_case, tmp_path, capsys, extra, message):
    detections = tmp_path / "person_detections.json"
    detections.write_text("[]")
    model, data, annotations = coco_case
    argv = [
        "--model", str(model), "--data", str(data), "--out", str(tmp_path / "out"),
        "--metric", "coco-ap", "--coco-annotations", str(annotations),
        *[value.format(detections=detections) for value in extra],
    ]  # fmt: skip
    assert evaluate.main(argv) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and message in error[0], error


def test_no_usable_detection_is_an_error_naming_the_file(
    coco_case, tmp_path, monkeypatch
):
    path = tmp_path / "person_detections.json"
    path.write_text(json.dumps([{"image_id": 999, "bbox": [1, 2, 30, 40], "score": 1}]))
    with pytest.raises(evaluate.EvaluationInputError, match="no usable detection"):
        evaluate_with(coco_case, tmp_path / "out", monkeypatch, detections=str(path))
