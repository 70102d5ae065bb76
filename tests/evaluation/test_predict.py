"""Tests for the `python -m evaluation.predict` command."""

import json
import logging

import numpy as np
import pandas as pd
import pytest
import skimage.io

from evaluation import predict
from keras_hourglass.transforms import box_from_person
from tests.serving_helpers import RestStandIn


@pytest.fixture(scope="module")
def models(tiny_model_files):
    """(.keras path, SavedModel base path) of the same tiny model."""
    keras_path, export_dir, _ = tiny_model_files
    return keras_path, export_dir


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
    assert np.any(overlay != original)  # skeletons drawn
    assert set(table["head_top_inside"]) <= {0, 1}
    assert len(records[0]["keypoints"]["head_top"]) == 4  # x, y, score, inside


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


def test_video_with_a_fixed_box_writes_frames_and_an_overlay_video(models, tmp_path):
    import imageio.v2 as imageio

    keras_path, _ = models
    video = tmp_path / "clip.mp4"
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, [48, 64, 3], dtype=np.uint8) for _ in range(5)]
    imageio.mimwrite(video, frames, fps=5, macro_block_size=1)
    out = str(tmp_path / "out")
    argv = ["--model", str(keras_path), "--video", str(video), "--box",
            "8,4,40,40", "--batch-size", "2", "--out", out]  # fmt: skip
    assert predict.main(argv) == 0
    table = pd.read_csv(tmp_path / "out" / "keypoints.csv")
    assert table["frame"].tolist() == [0, 1, 2, 3, 4]
    assert table[["box_x", "box_y", "box_w", "box_h"]].drop_duplicates().shape[0] == 1
    overlay = imageio.mimread(tmp_path / "out" / "overlay.mp4")
    assert len(overlay) == 5 and overlay[0].shape == (48, 64, 3)


def test_video_errors_name_the_problem(models, tmp_path, caplog):
    keras_path, _ = models
    not_video = tmp_path / "notes.mp4"
    not_video.write_text("not a video")
    out = str(tmp_path / "o")
    assert predict.main(["--model", str(keras_path), "--video", str(not_video),
                         "--out", out]) == 2  # fmt: skip
    assert "notes.mp4: not a readable video" in caplog.text
    video = tmp_path / "clip.mp4"
    import imageio.v2 as imageio

    imageio.mimwrite(video, [np.zeros([16, 16, 3], np.uint8)] * 2, fps=2)
    assert predict.main(["--model", str(keras_path), "--video", str(video),
                         "--box", "1,2,3", "--out", out]) == 2  # fmt: skip
    assert "expected four numbers" in caplog.text


def test_video_frame_count_is_known_for_the_progress_bar(tmp_path):
    import imageio.v2 as imageio

    video = tmp_path / "clip.mp4"
    frames = [np.full([48, 64, 3], 10 * index, np.uint8) for index in range(7)]
    imageio.mimwrite(video, frames, fps=5, macro_block_size=1)
    reader, fps, count = predict.open_video(video)
    reader.close()
    assert fps == 5.0
    assert count == 7
