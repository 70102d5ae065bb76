"""The README's main command end to end on a tiny model, then again: the
second run reuses every stage instead of starting over."""

import json

import pytest

from training.config import parse_config
from training.config import save_config
from training.quickstart import finished_with_same_config
from training.quickstart import main as quickstart_main
from training.quickstart import stage_paths
from training.quickstart import synthetic_data_matches
from training.quickstart import training_flags

TINY_QUICKSTART_FLAGS = [
    "--count", "16", "--val-count", "4", "--epochs", "1", "--steps-per-epoch", "1",
    # Passed on to training.train: a 1-stack, depth-1 network on 32 px crops.
    "--n-stacks", "1", "--n-features", "8", "--depth", "1", "--input-size", "32",
    "--output-size", "8", "--batch-size", "4", "--validation-people", "4",
    "--image-summaries", "0", "--shuffle-buffer", "16", "--verbose", "2",
]  # fmt: skip


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
    # In this process, as `hourglass-quickstart` runs it (the console script
    # itself is the wheel tests'); a failing stage raises.
    paths = quickstart_main(["--work-dir", str(tmp_path), *TINY_QUICKSTART_FLAGS])
    first_stdout = capsys.readouterr().out
    assert paths == stage_paths(tmp_path)
    assert (paths["data"] / "dataset.json").is_file()
    assert paths["final"].is_file()
    assert (paths["run"] / "training_log.csv").is_file()
    assert (paths["export"] / "saved_model.pb").is_file()
    results = json.loads((paths["eval"] / "results.json").read_text())
    assert results["metric"] == "pckh"
    assert "PCKh@0.5" in first_stdout and "| Mean" in first_stdout
    assert list((paths["eval"] / "figures").glob("*.png"))
    assert "reusing" not in first_stdout and "epoch 1: " in first_stdout
    final_written = paths["final"].stat().st_mtime

    # Again: every stage reused.
    quickstart_main(["--work-dir", str(tmp_path), *TINY_QUICKSTART_FLAGS])
    second_stdout = capsys.readouterr().out
    for stage in ("synthetic dataset", "trained model", "SavedModel", "evaluation"):
        assert f"reusing the {stage}" in second_stdout, stage
    assert "Epoch 1/1" not in second_stdout and "epoch 1: " not in second_stdout
    assert paths["final"].stat().st_mtime == final_written
