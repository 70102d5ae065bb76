"""Prediction files in every format, and `python -m evaluation.pckh` end to end."""

import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.io

from evaluation.ground_truth import EvaluationInputError
from evaluation.pckh import main
from evaluation.predictions import read_predictions
from evaluation.predictions import write_predictions

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def sample_predictions(num_people=3, num_joints=16):
    return np.random.default_rng(1).uniform(0, 500, (num_people, num_joints, 2))


@pytest.mark.parametrize("suffix", [".mat", ".h5", ".npy", ".csv"])
def test_prediction_formats_round_trip(tmp_path, suffix):
    predictions = sample_predictions()
    path = write_predictions(tmp_path / f"preds{suffix}", predictions)
    np.testing.assert_allclose(read_predictions(path), predictions, rtol=1e-12)


def test_matlab_layout_is_detected_by_shape(tmp_path):
    predictions = sample_predictions(num_people=5)
    matlab = predictions.transpose(1, 2, 0)  # 16 x 2 x N, like pos_pred_src
    scipy.io.savemat(tmp_path / "tompson.mat", {"pos_pred_src": matlab})
    np.save(tmp_path / "matlab.npy", matlab)
    with h5py.File(tmp_path / "matlab.h5", "w") as file:
        file["preds"] = matlab
    for name in ("tompson.mat", "matlab.npy", "matlab.h5"):
        np.testing.assert_array_equal(read_predictions(tmp_path / name), predictions)


def test_csv_with_numbered_columns_and_extra_columns(tmp_path):
    predictions = sample_predictions(num_people=2, num_joints=14)
    columns = [f"{axis}{joint}" for joint in range(14) for axis in ("x", "y")]
    table = pd.DataFrame(predictions.reshape(2, -1), columns=columns)
    table.insert(0, "image", ["a.jpg", "b.jpg"])
    table.to_csv(tmp_path / "numbered.csv", index=False)
    back = read_predictions(tmp_path / "numbered.csv", num_joints=14)
    np.testing.assert_allclose(back, predictions)


def test_bad_prediction_files_raise_clear_errors(tmp_path):
    np.save(tmp_path / "wrong.npy", np.zeros((3, 15, 2)))
    with pytest.raises(EvaluationInputError, match="wrong.npy: predictions of shape"):
        read_predictions(tmp_path / "wrong.npy")
    pd.DataFrame({"a": [1.0]}).to_csv(tmp_path / "cols.csv", index=False)
    with pytest.raises(EvaluationInputError, match="cols.csv: CSV needs columns x0"):
        read_predictions(tmp_path / "cols.csv")
    scipy.io.savemat(tmp_path / "other.mat", {"estimates": np.zeros((1, 16, 2))})
    with pytest.raises(EvaluationInputError, match="no variable 'preds'"):
        read_predictions(tmp_path / "other.mat")
    (tmp_path / "preds.txt").write_text("1 2")
    with pytest.raises(EvaluationInputError, match="unsupported prediction format"):
        read_predictions(tmp_path / "preds.txt")
    (tmp_path / "empty.npy").write_bytes(b"")
    with pytest.raises(EvaluationInputError, match="empty.npy: file is empty"):
        read_predictions(tmp_path / "empty.npy")


def write_small_ground_truth(path):
    """Two people, normaliser 10; person 1's left wrist is not annotated."""
    joints = np.arange(2 * 16 * 2, dtype=float).reshape(2, 16, 2) * 10 + 100
    annotated = np.ones((2, 16), int)
    annotated[1, 15] = 0
    entries = [
        {
            "image": f"im{index}.jpg",
            "joints": joints[index].tolist(),
            "joints_annotated": annotated[index].tolist(),
            "pckh_normaliser_0.6_headbox_diag": 10.0,
        }
        for index in range(2)
    ]
    path.write_text(json.dumps(entries))
    return joints


def test_cli_end_to_end_writes_json_markdown_and_csv(tmp_path, capsys):
    joints = write_small_ground_truth(tmp_path / "gt.json")
    predictions = joints.copy()
    predictions[0, 12, 0] += 5.0  # r_shoulder at exactly 0.5: a miss
    predictions[1, 15] += 1e3  # not annotated: ignored
    write_predictions(tmp_path / "preds.csv", predictions)
    outputs = [tmp_path / name for name in ("out.json", "out.md", "out.csv")]
    argv = ["--gt", str(tmp_path / "gt.json"), "--pred", str(tmp_path / "preds.csv")]
    argv += ["--json", str(outputs[0]), "--markdown", str(outputs[1])]
    assert main(argv + ["--csv", str(outputs[2]), "--name", "hg"]) == 0
    assert "| hg | 100.00 | 75.00 |" in capsys.readouterr().out
    results = json.loads(outputs[0].read_text())
    assert results["per_joint"]["r_shoulder"] == 50.0
    assert results["per_joint"]["l_wrist"] == 100.0
    assert results["groups"]["Shoulder"] == 75.0
    assert results["groups"]["Mean"] == pytest.approx(100 - 50 / 14)
    assert results["total_count_weighted"] == pytest.approx(100 * 26 / 27)
    assert results["mean_16"] == pytest.approx(100 - 50 / 16)
    assert "| hg |" in outputs[1].read_text()
    assert pd.read_csv(outputs[2], index_col=0).loc["hg", "Shoulder"] == 75.0


def test_cli_threshold_flag(tmp_path):
    joints = write_small_ground_truth(tmp_path / "gt.json")
    write_predictions(tmp_path / "preds.npy", joints + 3.0)  # distance 0.42
    argv = ["--gt", str(tmp_path / "gt.json"), "--pred", str(tmp_path / "preds.npy")]
    assert main(argv + ["--json", str(tmp_path / "hi.json")]) == 0
    assert main(argv + ["--threshold", "0.4", "--json", str(tmp_path / "lo.json")]) == 0
    assert json.loads((tmp_path / "hi.json").read_text())["groups"]["Mean"] == 100.0
    assert json.loads((tmp_path / "lo.json").read_text())["groups"]["Mean"] == 0.0


@pytest.mark.parametrize(
    ("predictions", "message"),
    [
        (np.zeros((2, 14, 2)), "preds.npy: predictions of shape (2, 14, 2)"),
        (np.zeros((3, 16, 2)), "preds.npy: 3 people, but the ground truth"),
        (np.full((2, 16, 2), np.nan), "preds.npy: person 0 joint 0 is NaN"),
    ],
)
def test_cli_user_errors_are_one_line(tmp_path, capsys, predictions, message):
    write_small_ground_truth(tmp_path / "gt.json")
    np.save(tmp_path / "preds.npy", predictions)
    argv = ["--gt", str(tmp_path / "gt.json"), "--pred", str(tmp_path / "preds.npy")]
    assert main(argv) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: ") and message in error
    assert "\n" not in error and "Traceback" not in error


def run_module(*arguments):
    return subprocess.run(
        [sys.executable, "-m", "evaluation.pckh", *map(str, arguments)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def test_module_runs_as_a_program(tmp_path):
    joints = write_small_ground_truth(tmp_path / "gt.json")
    write_predictions(tmp_path / "preds.h5", joints)
    done = run_module("--gt", tmp_path / "gt.json", "--pred", tmp_path / "preds.h5")
    assert done.returncode == 0 and "| model | 100.00 |" in done.stdout
    missing = run_module(
        "--gt", tmp_path / "gt.json", "--pred", tmp_path / "absent.npy"
    )
    assert missing.returncode == 2
    assert missing.stderr.strip() == f"error: {tmp_path / 'absent.npy'}: file not found"


def test_cli_on_tompson_validation_predictions(shared_data, tmp_path):
    ground_truth = shared_data / "mpii_valid_gt" / "detections_our_format.mat"
    tompson = scipy.io.loadmat(ground_truth)["pos_pred_src"]  # 16 x 2 x 2958
    scipy.io.savemat(tmp_path / "tompson.mat", {"pos_pred_src": tompson})
    argv = ["--gt", str(ground_truth), "--pred", str(tmp_path / "tompson.mat")]
    assert main(argv + ["--json", str(tmp_path / "out.json")]) == 0
    groups = json.loads((tmp_path / "out.json").read_text())["groups"]
    assert groups["Head"] == pytest.approx(95.60, abs=0.05)
    assert groups["Mean"] == pytest.approx(81.46, abs=0.05)
