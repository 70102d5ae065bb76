"""Tests for the `python -m evaluation.predict` command."""

import json
import logging

import numpy as np
import pandas as pd
import pytest
import skimage.io

from evaluation import predict
from keras_hourglass.serving.inputs import box_from_person
from tests.serving_helpers import RestStandIn
from tests.serving_helpers import export_tiny_model
from tests.serving_helpers import tiny_model


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """(.keras path, SavedModel base path) of the same tiny model."""
    folder = tmp_path_factory.mktemp("predict")
    model = tiny_model()
    keras_path = folder / "tiny.keras"
    model.save(keras_path)
    export_tiny_model(folder / "export", model=model, warmup=False)
    return keras_path, folder / "export"


@pytest.fixture()
def boxes_csv(shared_data, tmp_path):
    """Boxes of the two curling players of 015601864.jpg (from annotations)."""
    folder = shared_data / "mpii_samples"
    people = json.loads((folder / "annotations.json").read_text())["people"]
    rows = [
        {"image": p["image"], **dict(zip("xywh", box_from_person(
            p["mpii_objpos"], p["mpii_scale"])))}
        for p in people if p["image"] == "015601864.jpg"
    ]  # fmt: skip
    path = tmp_path / "boxes.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def run(model, images, out, boxes=None):
    argv = ["--model", str(model), "--images", *map(str, images), "--out", str(out)]
    return predict.main(argv + (["--boxes", str(boxes)] if boxes else []))


def test_folder_with_boxes_on_saved_model_and_keras_file(
    models, shared_data, boxes_csv, tmp_path
):
    keras_path, export_dir = models
    folder = shared_data / "mpii_samples"
    tables = {}
    for name, model in (("export", export_dir), ("keras", keras_path)):
        assert run(model, [folder], tmp_path / name, boxes_csv) == 0
        tables[name] = pd.read_csv(tmp_path / name / "keypoints.csv")
    table = tables["export"]
    # 3 images: two used whole, one with two boxed people.
    assert len(table) == 4
    assert sorted(table.groupby("image").size().tolist()) == [1, 1, 2]
    joints = [c for c in table.columns if c.endswith(("_x", "_y")) and "box" not in c]
    assert len(joints) == 32 and "r_ankle_score" in table.columns
    np.testing.assert_allclose(
        table[joints].to_numpy(), tables["keras"][joints].to_numpy(), atol=1e-3
    )
    records = json.loads((tmp_path / "export" / "keypoints.json").read_text())
    assert records[0]["keypoints"]["head_top"][0] == pytest.approx(
        table["head_top_x"][0], abs=1e-3
    )
    overlay = skimage.io.imread(tmp_path / "export/overlays/015601864_pose.png")
    original = skimage.io.imread(folder / "015601864.jpg")
    assert overlay.shape == original.shape
    assert np.any(np.all(overlay == [255, 0, 0], axis=-1))  # joints drawn


def test_rest_url_and_skipped_corrupt_image(models, shared_data, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="evaluation.predict")
    _, export_dir = models
    image = shared_data / "mpii_samples" / "052475643.jpg"
    corrupt = tmp_path / "broken.jpg"
    corrupt.write_bytes(image.read_bytes()[:5000])
    with RestStandIn(export_dir / "1") as server:
        assert run(server.url, [image, corrupt], tmp_path / "out") == 0
    table = pd.read_csv(tmp_path / "out" / "keypoints.csv")
    assert table["image"].tolist() == [str(image)]
    assert "broken.jpg" in caplog.text and "1 images skipped" in caplog.text


def test_bad_inputs_exit_with_an_error(models, shared_data, tmp_path, caplog):
    keras_path, _ = models
    image = shared_data / "mpii_samples" / "052475643.jpg"
    assert run(keras_path, [tmp_path / "missing.jpg"], tmp_path / "o") == 2
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("image,x,y\nfoo.jpg,1,2\n")
    assert run(keras_path, [image], tmp_path / "o", bad_csv) == 2
    assert "lacks columns ['w', 'h']" in caplog.text
    other_csv = tmp_path / "other.csv"
    other_csv.write_text("image,x,y,w,h\nnot_given.jpg,1,2,3,4\n")
    assert run(keras_path, [image], tmp_path / "o", other_csv) == 2
    assert "'not_given.jpg' is not an input" in caplog.text
