"""Crash safety at step granularity: the resume plan, the backup files, the
callback state across `fit` calls, and SIGKILL of the real program."""

import csv
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

import keras_hourglass.losses  # noqa: F401 (registers the loss for reloading)
from tests.train_helpers import PROJECT_ROOT
from tests.train_helpers import SMALLEST_MODEL_FLAGS
from tests.train_helpers import run_training_here
from tests.train_helpers import subprocess_environment
from training.resume import StepBackup
from training.resume import plan_fit_calls
from training.resume import read_backup
from training.resume import restore_weights
from training.resume import trim_csv_log
from training.train import main as train_main

EPOCHS, STEPS = 3, 3


def test_plan_finishes_the_interrupted_epoch_then_the_rest():
    assert plan_fit_calls(1, 4, 3, 6) == [
        {"initial_epoch": 1, "epochs": 2, "steps_per_epoch": 2, "step_offset": 4},
        {"initial_epoch": 2, "epochs": 3, "steps_per_epoch": 6, "step_offset": 0},
    ]
    assert plan_fit_calls(0, 0, 3, 6) == [
        {"initial_epoch": 0, "epochs": 3, "steps_per_epoch": 6, "step_offset": 0}
    ]
    assert plan_fit_calls(2, 5, 3, 6)[-1]["epochs"] == 3
    assert plan_fit_calls(3, 0, 3, 6) == []
    with pytest.raises(ValueError, match="steps_per_epoch changed"):
        plan_fit_calls(1, 6, 3, 6)


def test_trim_csv_log_drops_epochs_that_will_be_redone(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("epoch,loss\n0,1.0\n1,0.5\n2,0.4\n")
    assert trim_csv_log(path, 2) == 1
    assert path.read_text().split() == ["epoch,loss", "0,1.0", "1,0.5"]
    assert trim_csv_log(path, 5) == 0
    assert trim_csv_log(tmp_path / "absent.csv", 0) == 0


def tiny_model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.01), "mse")
    return model


def fit_with_backup(model, backup, callbacks, plan, inputs):
    for call in plan:
        backup.start_fit_call(call["step_offset"])
        model.fit(
            inputs, np.ones((len(inputs), 1)), batch_size=1, verbose=0,
            initial_epoch=call["initial_epoch"], epochs=call["epochs"],
            steps_per_epoch=call["steps_per_epoch"], callbacks=callbacks + [backup],
        )  # fmt: skip


def test_step_backup_resumes_position_optimizer_and_plateau_counter(tmp_path):
    inputs = np.ones((4, 3), "float32")
    plateau = keras.callbacks.ReduceLROnPlateau("loss", patience=100, min_delta=10)
    model = tiny_model()
    backup = StepBackup(tmp_path, 3, 4, {"reduce_lr": plateau})
    fit_with_backup(model, backup, [plateau], plan_fit_calls(0, 0, 2, 4), inputs)
    state = read_backup(tmp_path)
    # Backed up after epoch 2; the plateau counter counts both epochs.
    assert (state["epoch"], state["steps_done"], state["global_step"]) == (2, 0, 8)
    assert state["callbacks"]["reduce_lr"]["wait"] == 1
    assert len(list(tmp_path.glob("step-*"))) == 1

    # Epoch 3 stops after its 3rd step, backed up there: a kill, as the
    # program sees it.
    stop = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: (
            batch == 2 and setattr(model, "stop_training", True)
        )
    )
    fit_with_backup(model, backup, [plateau, stop], plan_fit_calls(2, 0, 4, 4), inputs)
    expected = model.get_weights()
    resumed = tiny_model()
    state = read_backup(tmp_path)
    restore_weights(resumed, state)
    assert (state["epoch"], state["steps_done"], state["global_step"]) == (2, 3, 11)
    assert int(resumed.optimizer.iterations) == 11
    np.testing.assert_allclose(resumed.get_weights()[0], expected[0])
    # Two fit calls (partial epoch, then the rest) keep the plateau counter
    # that ReduceLROnPlateau would reset at the start of each call.
    plateau = keras.callbacks.ReduceLROnPlateau("loss", patience=100, min_delta=10)
    backup = StepBackup(tmp_path, 3, 4, {"reduce_lr": plateau}, state)
    plan = plan_fit_calls(2, 3, 4, 4)
    fit_with_backup(resumed, backup, [plateau], plan, inputs)
    assert int(resumed.optimizer.iterations) == 16
    assert read_backup(tmp_path)["callbacks"]["reduce_lr"]["wait"] == 3


def test_step_backup_never_saves_a_nan_loss(tmp_path):
    model = tiny_model()
    backup = StepBackup(tmp_path, 1, 4, {})
    backup.set_model(model)
    backup.on_epoch_begin(0)
    backup.on_train_batch_end(0, {"loss": 1.0})
    backup.on_train_batch_end(1, {"loss": float("nan")})
    assert read_backup(tmp_path)["steps_done"] == 1
    backup.on_epoch_end(0, {"loss": float("nan")})
    assert read_backup(tmp_path)["epoch"] == 0


def wait_for_mid_epoch_backup(backup_dir, process, timeout=300):
    """Waits until the backup is inside epoch >= 2 (index >= 1)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "training ended before it could be killed"
        try:
            state = read_backup(backup_dir)
        except ValueError:
            state = None
        if state and state["epoch"] >= 1 and state["steps_done"] >= 1:
            return
        time.sleep(0.1)
    raise AssertionError("no mid-epoch backup appeared")


def steps_run(stdout):
    """Training steps shown by `verbose=2` (`3/3 - 2s - ...` per epoch)."""
    return sum(int(done) for done in re.findall(r"^(\d+)/\d+ - ", stdout, re.M))


@pytest.mark.slow
def test_sigkill_mid_epoch_then_rerun_resumes_at_the_step(
    tiny_shards, tmp_path, capsys
):
    data_dir = tiny_shards
    run_dir = tmp_path / "run"
    flags = SMALLEST_MODEL_FLAGS + [
        "--data-dir", str(data_dir), "--run-dir", str(run_dir), "--batch-size", "4",
        "--epochs", str(EPOCHS), "--steps-per-epoch", str(STEPS),
        "--backup-every-steps", "1", "--no-export",
    ]  # fmt: skip
    first = subprocess.Popen(
        [sys.executable, "-m", "training.train", *flags], cwd=PROJECT_ROOT,
        env=subprocess_environment(), stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for_mid_epoch_backup(run_dir / "backup", first)
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    state = read_backup(run_dir / "backup")
    epoch, done = state["epoch"], state["steps_done"]
    assert not (run_dir / "final.keras").exists()

    second = run_training_here(flags, capsys)
    assert second.returncode == 0, second.stderr[-3000:]
    assert f"epoch {epoch + 1}, {done} of {STEPS} steps done" in second.stdout
    assert f"Epoch {epoch}/{EPOCHS}" not in second.stdout
    # No redone epoch: the rest of the interrupted one, then the later ones.
    assert steps_run(second.stdout) == (STEPS - done) + (EPOCHS - epoch - 1) * STEPS
    with (run_dir / "training_log.csv").open() as handle:
        epochs = [int(row["epoch"]) for row in csv.DictReader(handle)]
    assert epochs == list(range(EPOCHS))
    assert read_backup(run_dir / "backup")["global_step"] == EPOCHS * STEPS
    assert read_backup(run_dir / "backup")["epoch"] == EPOCHS
    # In this process (no second TensorFlow start-up): nothing is trained.
    capsys.readouterr()
    assert train_main(flags) is None
    third_stdout = capsys.readouterr().out
    assert "nothing left to train" in third_stdout
    assert steps_run(third_stdout) == 0


def one_epoch_flags(data_dir, run_dir):
    return SMALLEST_MODEL_FLAGS + [
        "--data-dir", str(data_dir), "--run-dir", str(run_dir),
        "--batch-size", "4", "--epochs", "1", "--steps-per-epoch", "2",
    ]  # fmt: skip


@pytest.fixture(scope="module")
def one_epoch_run(tiny_shards, tmp_path_factory):
    """A finished run of one 2-step epoch, trained once (in this process)
    for the tests that resume copies of it."""
    run_dir = tmp_path_factory.mktemp("one_epoch") / "run"
    train_main(one_epoch_flags(tiny_shards, run_dir))
    return run_dir


@pytest.mark.slow
@pytest.mark.parametrize(
    "changed_flag, value", [("--steps-per-epoch", "1"), ("--n-features", "8")]
)
def test_a_refused_resume_leaves_the_config_and_names_the_flag_to_drop(
    one_epoch_run, tiny_shards, tmp_path, capsys, changed_flag, value
):
    run_dir = shutil.copytree(one_epoch_run, tmp_path / "run")
    flags = one_epoch_flags(tiny_shards, run_dir)
    config_before = (run_dir / "config.json").read_bytes()
    capsys.readouterr()
    with pytest.raises(SystemExit) as refused:
        train_main(flags + [changed_flag, value])
    assert refused.value.code == 2
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert (run_dir / "config.json").read_bytes() == config_before
    assert f"drop {changed_flag}" in message, message
    assert "delete" not in message, message


@pytest.mark.slow
def test_ctrl_c_stops_with_one_line_naming_the_command_then_resumes(
    tiny_shards, tmp_path, capsys
):
    run_dir = tmp_path / "run"
    epochs, steps = 2, 2
    flags = SMALLEST_MODEL_FLAGS + [
        "--data-dir", str(tiny_shards), "--run-dir", str(run_dir), "--batch-size", "4",
        "--epochs", str(epochs), "--steps-per-epoch", str(steps),
        "--backup-every-steps", "1", "--no-export",
    ]  # fmt: skip
    stdout_path, stderr_path = tmp_path / "stdout", tmp_path / "stderr"
    # A program started with SIGINT ignored (pytest run as a background job
    # of a shell) keeps ignoring it; one started while it is handled gets the
    # default back at exec, and Python turns it into KeyboardInterrupt.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    with open(stdout_path, "w") as stdout, open(stderr_path, "w") as stderr:
        try:
            first = subprocess.Popen(
                [sys.executable, "-m", "training.train", *flags], cwd=PROJECT_ROOT,
                env=subprocess_environment(PYTHONUNBUFFERED="1"), stdout=stdout,
                stderr=stderr,
            )  # fmt: skip
        finally:
            signal.signal(signal.SIGINT, previous)
        try:
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                assert first.poll() is None, "training ended before Ctrl-C"
                try:
                    state = read_backup(run_dir / "backup")
                except ValueError:
                    state = None
                if state and state["global_step"] >= 1:
                    break
                time.sleep(0.1)
            first.send_signal(signal.SIGINT)  # what Ctrl-C in a terminal sends
            code = first.wait(timeout=120)
        finally:
            first.kill()
            first.wait()
    output = stdout_path.read_text() + stderr_path.read_text()
    assert code == 130, output[-3000:]
    assert "Traceback" not in output and "KeyboardInterrupt" not in output, output
    (line,) = [text for text in output.splitlines() if "interrupted" in text]
    assert "nothing lost" in line
    assert "python -m training.train " + " ".join(flags) in line
    assert not (run_dir / "run.lock").exists()

    second = run_training_here(flags, capsys)
    assert second.returncode == 0, second.stderr[-3000:]
    with (run_dir / "training_log.csv").open() as handle:
        logged = [int(row["epoch"]) for row in csv.DictReader(handle)]
    assert logged == list(range(epochs))
    assert read_backup(run_dir / "backup")["global_step"] == epochs * steps
