"""Tests for evaluation.run_directory: the joint set of a training run."""

import json
import shutil

import pytest

from evaluation.run_directory import joint_set_for_run
from evaluation.run_directory import make_predictor
from keras_hourglass.joint_sets import LSP_14
from keras_hourglass.joint_sets import MPII_16


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


def test_a_runs_dataset_json_with_a_bad_flip_pair_is_refused(tmp_path):
    data_dir, run_dir = tmp_path / "data", tmp_path / "run"
    data_dir.mkdir()
    run_dir.mkdir()
    (data_dir / "dataset.json").write_text(
        json.dumps({"name": "mine", "joint_names": list(LSP_14.joint_names),
                    "flip_pairs": [[5, 0], [5, 1]]})
    )  # fmt: skip
    (run_dir / "config.json").write_text(json.dumps({"data_dir": str(data_dir)}))
    with pytest.raises(ValueError, match=r"dataset\.json: flip_pairs"):
        joint_set_for_run(run_dir / "final.keras", 14)


def test_a_predictor_of_a_run_model_takes_the_runs_joint_set(
    tmp_path, tiny_model_files
):
    # hourglass-predict and evaluate's --detections both load through it.
    data_dir, run_dir = tmp_path / "data", tmp_path / "run"
    data_dir.mkdir()
    run_dir.mkdir()
    names = [f"{side}_{index}" for side in ("l", "r") for index in range(8)]
    (data_dir / "dataset.json").write_text(
        json.dumps({"name": "mine", "joint_names": names, "flip_pairs": [[0, 8]]})
    )
    (run_dir / "config.json").write_text(json.dumps({"data_dir": str(data_dir)}))
    shutil.copy(tiny_model_files[0], run_dir / "final.keras")
    predictor = make_predictor(run_dir / "final.keras", flip_test=False)
    assert predictor.joint_set.name == "mine"
    assert predictor.joint_set.joint_names == tuple(names)
