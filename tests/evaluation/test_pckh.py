"""`python -m evaluation.pckh` end to end."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.io

from evaluation.pckh import main
from evaluation.prediction_files import write_predictions
from tests.train_helpers import program_messages

PROJECT_ROOT = Path(__file__).resolve().parents[2]


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
    assert program_messages(missing.stderr) == [
        f"error: {tmp_path / 'absent.npy'}: file not found"
    ]


def test_cli_on_tompson_validation_predictions(shared_data, tmp_path):
    ground_truth = shared_data / "mpii_valid_gt" / "detections_our_format.mat"
    tompson = scipy.io.loadmat(ground_truth)["pos_pred_src"]  # 16 x 2 x 2958
    scipy.io.savemat(tmp_path / "tompson.mat", {"pos_pred_src": tompson})
    argv = ["--gt", str(ground_truth), "--pred", str(tmp_path / "tompson.mat")]
    assert main(argv + ["--json", str(tmp_path / "out.json")]) == 0
    groups = json.loads((tmp_path / "out.json").read_text())["groups"]
    assert groups["Head"] == pytest.approx(95.60, abs=0.05)
    assert groups["Mean"] == pytest.approx(81.46, abs=0.05)
