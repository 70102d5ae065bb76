"""Tests for evaluation.run_directory: a run's model file and joint set."""

import json

import pytest

from evaluation.run_directory import find_keras_file
from evaluation.run_directory import joint_set_for_run
from keras_hourglass.joint_sets import LSP_14
from keras_hourglass.joint_sets import MPII_16


def test_find_keras_file_prefers_final_then_best_then_latest(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    for name in ("checkpoints/latest.keras", "checkpoints/best.keras"):
        (tmp_path / name).write_bytes(b"")
    assert find_keras_file(tmp_path) == tmp_path / "checkpoints/best.keras"
    (tmp_path / "final.keras").write_bytes(b"")
    assert find_keras_file(tmp_path) == tmp_path / "final.keras"
    assert find_keras_file(tmp_path / "final.keras") == tmp_path / "final.keras"
    with pytest.raises(FileNotFoundError, match="no such model"):
        find_keras_file(tmp_path / "missing")


def test_joint_set_comes_from_the_runs_dataset_else_the_builtin_set(tmp_path):
    data_dir, run_dir = tmp_path / "data", tmp_path / "run"
    data_dir.mkdir()
    run_dir.mkdir()
    (data_dir / "dataset.json").write_text(
        json.dumps({"name": "mine", "joint_names": list(LSP_14.joint_names),
                    "flip_pairs": [[5, 0]]})
    )  # fmt: skip
    (run_dir / "config.json").write_text(json.dumps({"data_dir": str(data_dir)}))
    from_run = joint_set_for_run(run_dir / "final.keras", 14)
    assert from_run.name == "mine" and from_run.flip_pairs == ((5, 0),)
    assert joint_set_for_run(tmp_path / "elsewhere" / "m.keras", 16) == MPII_16
    with pytest.raises(ValueError, match="no built-in joint set has 5"):
        joint_set_for_run(run_dir, 5)
