"""`python -m evaluation.evaluate` on joint sets without head boxes or a
torso: it scores what the data supports and COCO AP reaches the console."""

import json

import keras
import pytest

from evaluation.evaluate import main
from evaluation.pckh import evaluate_files
from keras_hourglass.model import build_stacked_hourglass
from tests.custom_sets import FIVE_JOINTS
from tests.custom_sets import write_coco_files
from tests.custom_sets import write_keypoint_csv
from training import make_tfrecords

INPUT_SIZE = 32


def tiny_model_file(folder, num_joints):
    """An untrained 1-stack, depth-1 model of `num_joints` joints, saved."""
    keras.utils.set_random_seed(0)
    model = build_stacked_hourglass(
        n_stacks=1, n_joints=num_joints, n_features=8, depth=1,
        input_shape=(INPUT_SIZE, INPUT_SIZE, 3),
    )  # fmt: skip
    model.save(folder / "final.keras")
    return folder / "final.keras"


@pytest.fixture(scope="module")
def coco_data(tmp_path_factory):
    """(shards folder, valid.json) of a generated 17-joint COCO set."""
    folder = tmp_path_factory.mktemp("coco")
    train, valid = write_coco_files(folder, count=6, val_count=3)
    make_tfrecords.main([
        "--format", "coco", "--annotations", str(train), "--images",
        str(folder / "images"), "--valid-annotations", str(valid),
        "--out", str(folder / "data"),
    ])  # fmt: skip
    return folder / "data", valid


def test_coco_ap_prints_the_stats_and_writes_them_beside_the_pck_tables(
    coco_data, tmp_path, capsys
):
    data, valid_json = coco_data
    model = tiny_model_file(tmp_path, 17)
    out = tmp_path / "eval"
    status = main(["--model", str(model), "--data", str(data), "--out", str(out),
                   "--metric", "coco-ap", "--coco-annotations", str(valid_json),
                   "--no-flip", "--num-examples", "1"])  # fmt: skip
    console = capsys.readouterr()
    assert status == 0, console.err
    assert "| AP | AP50 | AP75 | APm | APl | AR |" in console.out
    assert "ground-truth boxes" in console.out
    # COCO names l_shoulder and r_hip, so its PCK is torso PCK.
    results = json.loads((out / "results.json").read_text())
    assert results["metric"] == "pck"
    assert (out / "pck.md").is_file() and (out / "coco_ap.md").is_file()
    assert "ground-truth boxes" in (out / "coco_ap.md").read_text()
    coco_ap = json.loads((out / "coco_ap.json").read_text())
    assert coco_ap["boxes"] == "ground-truth boxes"
    assert set(results["coco_ap"]) >= {"AP", "AP50", "AP75", "APm", "APl", "AR"}


def test_five_joints_without_a_torso_are_scored_by_box_pck(tmp_path, capsys):
    csv_path = write_keypoint_csv(tmp_path / "source", FIVE_JOINTS, count=4)
    make_tfrecords.main(["--format", "csv", "--annotations", str(csv_path),
                         "--out", str(tmp_path / "data")])  # fmt: skip
    model = tiny_model_file(tmp_path, 5)
    out = tmp_path / "eval"
    status = main(["--model", str(model), "--data", str(tmp_path / "data"),
                   "--out", str(out), "--no-flip", "--num-examples", "1"])  # fmt: skip
    console = capsys.readouterr()
    assert status == 0, console.err
    results = json.loads((out / "results.json").read_text())
    assert results["metric"] == "box-pck" and results["threshold"] == 0.05
    assert "box PCK@0.05" in console.out
    assert "pass torso_joints" not in console.err
    for suffix in (".md", ".csv", "_per_joint.csv", "_curve.csv"):
        assert (out / f"box-pck{suffix}").is_file()
    # The written files re-score to the same table with the standalone scorer.
    rescored = evaluate_files(out / "ground_truth.json", out / "preds.h5", "box-pck")
    assert rescored.per_joint == pytest.approx(results["final"]["per_joint"])
    # An explicit torso PCK the joint set cannot give names the flag.
    status = main(["--model", str(model), "--data", str(tmp_path / "data"),
                   "--out", str(tmp_path / "eval2"), "--metric", "pck"])  # fmt: skip
    error = capsys.readouterr().err
    assert status == 2
    assert "--metric pck" in error and "l_shoulder" in error
    assert not (tmp_path / "eval2").exists()


def test_an_unknown_split_is_one_line_naming_the_known_ones(
    coco_data, tmp_path, capsys
):
    data, _ = coco_data
    status = main(["--model", str(tiny_model_file(tmp_path, 17)), "--data", str(data),
                   "--out", str(tmp_path / "eval"), "--split", "test"])  # fmt: skip
    assert status == 2
    assert "no split 'test'" in capsys.readouterr().err
    assert not (tmp_path / "eval").exists()
