"""Tests of `python -m evaluation.ablation`: commands, flags and comparison."""

import json
from pathlib import Path

import pandas as pd
import pytest

from evaluation.ablation import QUICK_VARIANTS
from evaluation.ablation import STUDIES
from evaluation.ablation import main
from evaluation.ablation import study_commands
from evaluation.ablation import variant_flags
from evaluation.ablation import write_comparison
from training.config import parse_config


def test_variant_flags_cover_booleans_and_numbers():
    flags = variant_flags({"n_stacks": 2, "intermediate_supervision": False})
    assert flags == ["--n-stacks", "2", "--no-intermediate-supervision"]


@pytest.mark.parametrize("study", sorted(STUDIES))
def test_training_commands_parse_into_the_variant_configs(study, tmp_path):
    commands = study_commands(study, tmp_path / "data", tmp_path, preset="demo",
                              train_args="--epochs 3")  # fmt: skip
    for variant, (train, evaluate) in commands.items():
        config = parse_config(train[3:])
        for name, value in STUDIES[study][variant].items():
            assert getattr(config, name) == value
        assert config.epochs == 3 and config.run_dir == str(tmp_path / variant)
        assert evaluate[evaluate.index("--model") + 1] == str(tmp_path / variant)


def test_stacks_study_keeps_the_residual_modules_constant():
    settings = STUDIES["stacks"].values()
    assert {s["n_stacks"] * s["n_modules"] for s in settings} == {8}


def test_dry_run_prints_every_command(tmp_path, capsys):
    assert main(["--study", "supervision", "--out", str(tmp_path), "--dry-run"]) == 0
    printed = capsys.readouterr().out
    for variant in STUDIES["supervision"]:
        assert f"[{variant}]" in printed
    assert printed.count("training.train") == len(STUDIES["supervision"])


def test_quick_runs_both_small_studies_on_synthetic_data(tmp_path, capsys):
    assert main(["--quick", "--out", str(tmp_path), "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    trains = [line for line in lines if "training.train" in line]
    assert len(trains) == sum(len(v) for v in QUICK_VARIANTS.values())
    for line in trains:
        variant = line[1 : line.index("]")]
        config = parse_config(line.split(" -m training.train ")[1].split())
        study = Path(config.run_dir).parent.name
        assert variant in QUICK_VARIANTS[study]
        assert config.run_dir == str(tmp_path / study / variant)
        assert config.data_dir == "data/synthetic" and config.n_features == 32
        assert config.epochs * config.steps_per_epoch == 300
        assert (config.depth, config.input_size, config.output_size) == (2, 64, 16)


def test_a_study_is_required_without_quick(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path)])
    assert "give --study" in capsys.readouterr().err


def test_comparison_table_and_figure(tmp_path):
    for index, variant in enumerate(("2hg", "8hg")):
        (tmp_path / variant / "eval").mkdir(parents=True)
        results = {"mean": 50.0 + index, "per_stack_mean": {"stack1": 40.0 + index}}
        (tmp_path / variant / "eval" / "results.json").write_text(json.dumps(results))
        (tmp_path / variant / "training_log.csv").write_text(
            "epoch,val_pckh\n0,10\n1,20\n"
        )
    write_comparison(tmp_path, ["2hg", "8hg"])
    table = pd.read_csv(tmp_path / "comparison.csv", index_col=0)
    assert table.loc["8hg", "Mean"] == 51.0 and table.loc["2hg", "stack1"] == 40.0
    assert (tmp_path / "training_curves.png").stat().st_size > 0
    assert (tmp_path / "stack_accuracy.png").stat().st_size > 0
    with pytest.raises(FileNotFoundError, match="4hg"):
        write_comparison(tmp_path, ["2hg", "4hg"])


def test_a_crash_while_rewriting_the_comparison_keeps_the_previous_one(
    tmp_path, monkeypatch
):
    from keras_hourglass import files

    (tmp_path / "2hg" / "eval").mkdir(parents=True)
    results = {"mean": 50.0, "per_stack_mean": {"stack1": 40.0}}
    (tmp_path / "2hg" / "eval" / "results.json").write_text(json.dumps(results))
    write_comparison(tmp_path, ["2hg"])
    before = (tmp_path / "comparison.md").read_text()
    assert "50" in before
    results["mean"] = 60.0
    (tmp_path / "2hg" / "eval" / "results.json").write_text(json.dumps(results))

    def crash(source, target):
        raise KeyboardInterrupt("killed before the rename")

    monkeypatch.setattr(files.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        write_comparison(tmp_path, ["2hg"])
    assert (tmp_path / "comparison.md").read_text() == before


def test_a_variant_without_intermediate_outputs_reports_its_last_stack(tmp_path):
    per_stack = {
        "2hg": {"stack2": 24.0},  # only the final stack has an output
        "2hg-int": {"stack1": 16.0, "stack2": 21.0},
        "10hg": {"stack1": 5.0, "stack10": 30.0},
    }
    for variant, stacks in per_stack.items():
        (tmp_path / variant / "eval").mkdir(parents=True)
        results = {"mean": max(stacks.values()), "per_stack_mean": stacks}
        (tmp_path / variant / "eval" / "results.json").write_text(json.dumps(results))
    table = write_comparison(tmp_path, list(per_stack))
    assert list(table.columns) == ["Mean", "stack1", "stack2", "stack10"]
    assert table.loc["2hg", "stack2"] == 24.0
    assert table.loc["2hg", "stack1"] != table.loc["2hg", "stack1"]  # NaN
