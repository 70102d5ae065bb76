"""`hourglass-predict --detections`: whole photos, people from a detector's
COCO results file."""

import json
import logging

import numpy as np
import pandas as pd
import PIL.Image
import pytest

from evaluation import predict


@pytest.fixture()
def photos(tmp_path):
    """Two numbered photos and one named photo, COCO style."""
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in ("000000000007.jpg", "000000000008.jpg", "beach.png"):
        image = rng.integers(0, 255, [80, 120, 3], dtype=np.uint8)
        PIL.Image.fromarray(image).save(folder / name)
    return folder


def write_detections(folder, entries):
    path = folder / "person_detections.json"
    path.write_text(json.dumps(entries))
    return path


def run(model, images, out, *flags):
    argv = ["--model", str(model), "--images", str(images), "--out", str(out)]
    return predict.main([*argv, *flags])


def test_people_come_from_the_detections_file(
    tiny_model_files, photos, tmp_path, caplog
):
    detections = write_detections(tmp_path, [
        {"image_id": 7, "bbox": [10, 5, 40, 60], "score": 0.9, "category_id": 1},
        {"image_id": 7, "bbox": [60, 10, 40, 60], "score": 0.8},
        {"image_id": "beach.png", "bbox": [20, 20, 50, 50], "score": 0.7},
        {"image_id": 7, "bbox": [0, 0, 40, 60], "score": 0.01},
        {"image_id": 99, "bbox": [0, 0, 40, 60], "score": 0.9},
        {"image_id": 7, "bbox": [0, 0, -4, 60], "score": 0.9},
    ])  # fmt: skip
    with caplog.at_level(logging.INFO, logger="evaluation.predict"):
        code = run(
            tiny_model_files[0], photos, tmp_path / "out", "--detections",
            str(detections), "--detection-score-threshold", "0.1",
        )  # fmt: skip
    assert code == 0
    table = pd.read_csv(tmp_path / "out" / "keypoints.csv")
    # Image 8 has no detection: nobody in it, not the whole photo.
    assert table.groupby("image").size().to_dict() == {
        str(photos / "000000000007.jpg"): 2, str(photos / "beach.png"): 1
    }  # fmt: skip
    boxes = table[["box_x", "box_y", "box_w", "box_h"]].to_numpy()
    np.testing.assert_array_equal(boxes[:2], [[10, 5, 40, 60], [60, 10, 40, 60]])
    assert len(list((tmp_path / "out" / "overlays").glob("*.png"))) == 3
    assert "3 detections used, 3 skipped" in caplog.text
    assert "1 image not among the inputs" in caplog.text


@pytest.mark.parametrize(
    "content, flags, message",
    [
        ("[{", (), "is not valid JSON"),
        ('[{"image_id": 7, "score": 1}]', (), "entry 0: no 'bbox' field"),
        ("[]", ("--boxes", "boxes.csv"), "--boxes or --detections"),
    ],
)
def test_a_bad_detections_file_exits_with_one_line(
    tiny_model_files, photos, tmp_path, caplog, content, flags, message
):
    path = tmp_path / "person_detections.json"
    path.write_text(content)
    code = run(
        tiny_model_files[0], photos, tmp_path / "out", "--detections", str(path),
        *flags,
    )  # fmt: skip
    assert code == 2
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and message in errors[0], errors
    assert not (tmp_path / "out").exists()
