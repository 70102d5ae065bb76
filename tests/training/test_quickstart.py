"""The README's main command end to end on a tiny model, then again: the
second run reuses every stage instead of starting over."""

import json
import subprocess
import sys

import pytest

from tests.train_helpers import PROJECT_ROOT
from tests.train_helpers import subprocess_environment
from training.config import parse_config
from training.config import save_config
from training.quickstart import finished_with_same_config
from training.quickstart import main as quickstart_main
from training.quickstart import stage_paths
from training.quickstart import synthetic_data_matches
from training.quickstart import training_flags

TINY_QUICKSTART_FLAGS = [
    "--count", "16", "--val-count", "4", "--epochs", "1", "--steps-per-epoch", "2",
    # Passed on to training.train: a tiny network on 64 px crops.
    "--n-stacks", "2", "--n-features", "16", "--depth", "1", "--input-size", "64",
    "--output-size", "16", "--batch-size", "4", "--validation-people", "4",
    "--image-summaries", "0", "--shuffle-buffer", "16", "--verbose", "2",
]  # fmt: skip


def run_quickstart(work_dir, extra=()):
    command = [sys.executable, "-m", "training.quickstart", "--work-dir",
               str(work_dir), *TINY_QUICKSTART_FLAGS, *extra]  # fmt: skip
    return subprocess.run(
        command, cwd=PROJECT_ROOT, env=subprocess_environment(),
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip


def test_synthetic_data_matches_only_the_same_settings(tmp_path):
    assert not synthetic_data_matches(tmp_path, 16, 4, 0)
    (tmp_path / "dataset.json").write_text(json.dumps({
        "created_with": {"format": "synthetic", "seed": 0},
        "splits": {"train": {"count": 16}, "valid": {"count": 4}},
    }))  # fmt: skip
    assert synthetic_data_matches(tmp_path, 16, 4, 0)
    assert synthetic_data_matches(tmp_path, None, None, 0)
    assert not synthetic_data_matches(tmp_path, 32, 4, 0)
    assert not synthetic_data_matches(tmp_path, 16, 4, 1)


def test_a_finished_run_is_reused_only_for_the_same_config(tmp_path):
    paths = stage_paths(tmp_path)
    arguments = type("Arguments", (), {"epochs": 1, "steps_per_epoch": 2})
    flags = training_flags(paths, arguments, ["--batch-size", "4"])
    save_config(parse_config(flags), paths["run"] / "config.json")
    assert not finished_with_same_config(paths, flags)  # no final.keras yet
    paths["final"].write_bytes(b"model")
    assert finished_with_same_config(paths, flags)
    assert not finished_with_same_config(paths, flags + ["--learning-rate", "0.1"])
    assert not finished_with_same_config(paths, flags[:-2])


@pytest.mark.slow
def test_quickstart_runs_every_stage_then_reuses_them(tmp_path, capsys):
    first = run_quickstart(tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    paths = stage_paths(tmp_path)
    assert (paths["data"] / "dataset.json").is_file()
    assert paths["final"].is_file()
    assert (paths["run"] / "training_log.csv").is_file()
    assert (paths["export"] / "saved_model.pb").is_file()
    results = json.loads((paths["eval"] / "results.json").read_text())
    assert results["metric"] == "pckh"
    assert "PCKh@0.5" in first.stdout and "| Mean" in first.stdout
    assert list((paths["eval"] / "figures").glob("*.png"))
    assert "reusing" not in first.stdout
    final_written = paths["final"].stat().st_mtime

    # Again in this process (no second TensorFlow start-up): every stage reused.
    capsys.readouterr()
    quickstart_main(["--work-dir", str(tmp_path), *TINY_QUICKSTART_FLAGS])
    second_stdout = capsys.readouterr().out
    for stage in ("synthetic dataset", "trained model", "SavedModel", "evaluation"):
        assert f"reusing the {stage}" in second_stdout, stage
    assert "Epoch 1/1" not in second_stdout
    assert paths["final"].stat().st_mtime == final_written
