"""Tests for evaluation.prediction_files: N x K x 2 prediction files."""

import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.io

from evaluation.ground_truth import EvaluationInputError
from evaluation.prediction_files import read_predictions
from evaluation.prediction_files import write_predictions


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
