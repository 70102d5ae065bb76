"""Crash safety: SIGKILL the training program during an epoch, run the same
command again, and check it resumes from the backup and finishes."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import keras
import pytest

import keras_hourglass.losses  # noqa: F401 (registers the loss for reloading)
from tests.train_helpers import PROJECT_ROOT
from tests.train_helpers import TINY_MODEL_FLAGS
from tests.train_helpers import make_synthetic_shards
from tests.train_helpers import run_training
from tests.train_helpers import subprocess_environment

EPOCHS, STEPS = 3, 6


def wait_for_mid_epoch_backup(metadata_path, process, timeout=300):
    """Waits until the backup records a step inside epoch >= 1."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "training ended before it could be killed"
        try:
            backup = json.loads(metadata_path.read_text())
            if backup["epoch"] >= 1 and backup["batch"] >= 1:
                return
        except (FileNotFoundError, json.JSONDecodeError, KeyError):
            pass
        time.sleep(0.2)
    raise AssertionError("no mid-epoch backup appeared")


@pytest.mark.slow
def test_sigkill_mid_epoch_then_rerun_resumes_and_finishes(tmp_path):
    data_dir = make_synthetic_shards(tmp_path / "data", count=16, val_count=4)
    run_dir = tmp_path / "run"
    flags = TINY_MODEL_FLAGS + [
        "--data-dir", str(data_dir), "--run-dir", str(run_dir), "--batch-size", "4",
        "--epochs", str(EPOCHS), "--steps-per-epoch", str(STEPS),
        "--backup-every-steps", "1",
    ]  # fmt: skip
    first = subprocess.Popen(
        [sys.executable, "-m", "training.train", *flags], cwd=PROJECT_ROOT,
        env=subprocess_environment(), stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for_mid_epoch_backup(run_dir / "backup" / "training_metadata.json", first)
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    backup = json.loads((run_dir / "backup" / "training_metadata.json").read_text())
    restored_steps = backup["epoch"] * STEPS + backup["batch"] + 1
    assert not (run_dir / "final.keras").exists()

    second = run_training(flags)
    assert second.returncode == 0, second.stderr[-3000:]
    # Keras resumes at the interrupted epoch, never back at the first one.
    assert f"Epoch 1/{EPOCHS}" not in second.stdout
    assert f"Epoch {backup['epoch'] + 1}/{EPOCHS}" in second.stdout
    with (run_dir / "training_log.csv").open() as handle:
        epochs = [int(row["epoch"]) for row in csv.DictReader(handle)]
    assert epochs == list(range(EPOCHS))
    # The optimizer state (step counter) came back from the mid-epoch backup.
    model = keras.saving.load_model(run_dir / "final.keras")
    # A kill during a save makes Keras fall back to the previous backup (one
    # step earlier); either way more steps than a restart of the epoch.
    expected = restored_steps + (EPOCHS - backup["epoch"]) * STEPS
    assert EPOCHS * STEPS < int(model.optimizer.iterations) <= expected
