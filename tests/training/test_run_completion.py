"""The end-of-run summary (`training.run_completion`), and a tiny real run's output:
the summary at the end, the per-epoch validation line on a line of its own."""

import warnings
from pathlib import Path

import pytest

from tests.train_helpers import TINY_MODEL_FLAGS
from training.callbacks import run_paths
from training.run_completion import best_epoch
from training.run_completion import format_run_summary
from training.train import main as train_main


def epoch_rows(*scores, column="val_pckh"):
    """CSV-log rows as `csv.DictReader` gives them: text, 0-based epochs."""
    return [
        {"epoch": str(epoch), "loss": "0.01", column: str(score)}
        for epoch, score in enumerate(scores)
    ]


def test_best_epoch_is_the_highest_finite_score_one_based():
    assert best_epoch(epoch_rows(10.0, 42.5, "nan", 30.0)) == (2, "val_pckh", 42.5)
    assert best_epoch(epoch_rows(5.0, 7.0, column="val_pck")) == (2, "val_pck", 7.0)
    assert best_epoch(epoch_rows("nan", "")) is None
    assert best_epoch([]) is None


def test_summary_names_the_best_epoch_every_file_and_the_tensorboard_command():
    paths = run_paths(Path("runs") / "my run")
    text = format_run_summary(
        epoch_rows(10.0, 42.5, 30.0), paths, export_dir=paths["export"],
        thresholds={"val_pckh": 0.5},
    )  # fmt: skip
    lines = text.splitlines()
    assert lines[0] == "run summary:"
    assert "epoch 2 of 3, validation PCKh@0.5 42.5%" in text
    for name in ("best", "final", "export", "csv"):
        assert str(paths[name]) in text, name
    # Quoted: the run directory has a space.
    assert "tensorboard --logdir 'runs/my run/logs'" in text


def test_summary_without_export_validation_or_tensorboard_says_so():
    paths = run_paths("runs/lsp")
    text = format_run_summary(
        epoch_rows(12.0, column="val_pck"), paths,
        thresholds={"val_pck": 0.2}, tensorboard_logs=False,
    )  # fmt: skip
    assert "epoch 1 of 1, validation torso PCK@0.2 12.0%" in text
    assert "export       none" in text and "tensorboard --logdir" not in text
    assert "no validation score" in format_run_summary([], paths)


@pytest.mark.slow
# More than the validation split's 2 batches, and 0 (all): validation uses
# those 2, and Keras is told so (it warns when it has to find out).
@pytest.mark.parametrize("validation_batches", ["5", "0"])
def test_a_real_run_prints_epoch_lines_alone_and_the_summary(
    tiny_shards, tmp_path, capfd, validation_batches
):
    run_dir = tmp_path / "run"
    # --verbose 1: Keras's progress bar, which leaves its line open.
    flags = TINY_MODEL_FLAGS + [
        "--data-dir", str(tiny_shards), "--run-dir", str(run_dir), "--verbose", "1",
        "--batch-size", "4", "--epochs", "2", "--steps-per-epoch", "2",
        "--validation-batches", validation_batches,
    ]  # fmt: skip
    # In this process: what the program writes to stdout and stderr is the
    # same, and its warnings are recorded rather than printed.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train_main(flags)
    stdout, stderr = capfd.readouterr()
    # The dataset is shuffled by the pipeline; Keras is not asked to.
    assert "will be ignored" not in stderr
    assert not [w for w in caught if "will be ignored" in str(w.message)]
    assert not [w for w in caught if "ran out of data" in str(w.message)]
    lines = stdout.splitlines()
    for epoch in (1, 2):
        assert any(line.startswith(f"epoch {epoch}: val_pckh") for line in lines), (
            stdout
        )
    summary = stdout[stdout.index("run summary:") :]
    assert "validation PCKh@0.5" in summary
    assert str(run_dir / "final.keras") in summary
    assert f"tensorboard --logdir {run_dir / 'logs'}" in summary
