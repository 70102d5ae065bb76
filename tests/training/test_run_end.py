"""The training program under unusable data, a second program in the same run
directory, and `kill -9` at each stage of the end of a run."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

from tests.train_helpers import PROJECT_ROOT
from tests.train_helpers import SMALLEST_MODEL_FLAGS
from tests.train_helpers import make_synthetic_shards
from tests.train_helpers import run_training_here
from tests.train_helpers import subprocess_environment
from training.export import main as export_main
from training.folder_lock import LOCK_FILE_NAME
from training.resume import read_backup

TRAIN_SHARDS = ("train-00000-of-00002.tfrecord", "train-00001-of-00002.tfrecord")


@pytest.fixture(scope="module")
def good_shards(tmp_path_factory):
    return make_synthetic_shards(tmp_path_factory.mktemp("shards"), 16, 8)


@pytest.fixture()
def data_dir(good_shards, tmp_path):
    """A private copy of the shards, free to damage."""
    return shutil.copytree(good_shards, tmp_path / "data")


def run_flags(data_dir, run_dir, *extra):
    return SMALLEST_MODEL_FLAGS + [
        "--data-dir", str(data_dir), "--run-dir", str(run_dir), "--batch-size", "4",
        "--epochs", "1", "--steps-per-epoch", "2", *extra,
    ]  # fmt: skip


def randomize(path):
    size = os.path.getsize(path)
    with open(path, "wb") as handle:
        handle.write(os.urandom(size))


def truncate(path, fraction):
    data = open(path, "rb").read()
    with open(path, "wb") as handle:
        handle.write(data[: int(len(data) * fraction)])


def steps_run(stdout):
    """Training steps shown by `verbose=2` (`2/2 - 2s - ...` per epoch)."""
    return sum(int(done) for done in re.findall(r"^(\d+)/\d+ - ", stdout, re.M))


def run_killed_when(command, stage_reached, output_dir, timeout=600):
    """Runs `command` and SIGKILLs it from outside as soon as
    `stage_reached()` holds; returns the CompletedProcess (`returncode` -9
    when killed)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    stdout_path, stderr_path = output_dir / "stdout", output_dir / "stderr"
    # Unbuffered, so that what it printed before the kill is all there.
    environment = subprocess_environment(PYTHONUNBUFFERED="1")
    with open(stdout_path, "w") as stdout, open(stderr_path, "w") as stderr:
        process = subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=environment, stdout=stdout,
            stderr=stderr, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while process.poll() is None and time.monotonic() < deadline:
            if stage_reached():
                process.send_signal(signal.SIGKILL)
                break
            time.sleep(0.005)
        else:
            process.kill()
        process.wait()
    return subprocess.CompletedProcess(
        command, process.returncode, stdout_path.read_text(), stderr_path.read_text()
    )


def train_command(flags):
    return [sys.executable, "-m", "training.train", *flags]


def final_model_in_its_temporary_file(run_dir):
    """final.keras is written beside its place (checked for seconds before
    it is renamed into place)."""
    return lambda: any(run_dir.glob("*final*tmp*"))


# The training program with a pause, arranged from outside, once export/1 is
# in place and before it is verified and recorded (which follows within
# milliseconds): it touches the marker file (argv[1]), then waits to be killed.
PAUSED_BEFORE_VERIFYING_EXPORT = """
import runpy, sys, time
from pathlib import Path
import training.run_completion as run_completion

marker = Path(sys.argv.pop(1))

def touch_marker_and_wait(version_dir):
    marker.touch()
    time.sleep(600)

run_completion.verify_export = touch_marker_and_wait
runpy.run_module("training.train", run_name="__main__", alter_sys=True)
"""


def train_command_paused_before_verifying_export(flags, marker):
    return [sys.executable, "-c", PAUSED_BEFORE_VERIFYING_EXPORT, str(marker), *flags]


def completion(run_dir):
    path = run_dir / "completion.json"
    return json.loads(path.read_text()) if path.exists() else {}


@pytest.mark.slow
def test_unreadable_training_split_stops_then_trains_once_fixed(
    good_shards, data_dir, tmp_path, capsys
):
    for name in TRAIN_SHARDS:
        randomize(data_dir / name)
    run_dir = tmp_path / "run"
    flags = run_flags(data_dir, run_dir, "--export")
    failed = run_training_here(flags, capsys)
    assert failed.returncode == 2, failed.stdout[-2000:] + failed.stderr[-2000:]
    assert "no usable training sample" in failed.stderr
    for name in TRAIN_SHARDS:
        assert name in failed.stderr
    # Nothing marks the epoch or the run as done.
    assert not (run_dir / "final.keras").exists()
    assert not (run_dir / "export").exists()
    assert read_backup(run_dir / "backup") is None
    assert completion(run_dir) == {}
    assert not (run_dir / LOCK_FILE_NAME).exists()

    for name in TRAIN_SHARDS:
        shutil.copy(good_shards / name, data_dir / name)
    fixed = run_training_here(flags, capsys)
    assert fixed.returncode == 0, fixed.stderr[-3000:]
    assert "nothing left to train" not in fixed.stdout
    assert steps_run(fixed.stdout) == 2
    assert set(completion(run_dir)) == {"training", "final_model", "export"}
    assert (run_dir / "export" / "1" / "saved_model.pb").is_file()


@pytest.mark.slow
def test_first_epoch_losing_too_many_records_stops_naming_the_shard(
    data_dir, tmp_path, capsys
):
    truncate(data_dir / TRAIN_SHARDS[1], 0.6)
    run_dir = tmp_path / "run"
    result = run_training_here(run_flags(data_dir, run_dir), capsys)
    assert result.returncode == 2, result.stderr[-3000:]
    assert "--max-dropped-fraction" in result.stderr
    assert f"{TRAIN_SHARDS[1]} in {data_dir}" in result.stderr
    assert "lost to damaged shards" in result.stderr
    assert TRAIN_SHARDS[0] not in result.stderr
    assert not (run_dir / "final.keras").exists()
    assert read_backup(run_dir / "backup") is None


@pytest.mark.slow
def test_second_program_in_a_locked_run_dir_is_refused(data_dir, tmp_path, capsys):
    run_dir = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from training.folder_lock import acquire_run_lock; "
         f"acquire_run_lock({str(run_dir)!r}, 'holder'); print('locked', "
         "flush=True); time.sleep(600)"],
        cwd=PROJECT_ROOT, env=subprocess_environment(), stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        result = run_training_here(run_flags(data_dir, run_dir), capsys)
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 2
    assert f"is in use by holder (pid {holder.pid}" in result.stderr
    assert not (run_dir / "config.json").exists()
    assert not (run_dir / "training_log.csv").exists()


@pytest.mark.slow
def test_kill_during_final_save_then_during_export_is_repaired(
    data_dir, tmp_path, capsys, caplog
):
    # Damaged data the run is allowed to train on: its loss is reported.
    truncate(data_dir / TRAIN_SHARDS[1], 0.6)
    run_dir = tmp_path / "run"
    flags = run_flags(data_dir, run_dir, "--export", "--max-dropped-fraction", "0.9")

    first = run_killed_when(
        train_command(flags), final_model_in_its_temporary_file(run_dir),
        tmp_path / "first",
    )  # fmt: skip
    assert first.returncode == -9, first.stderr[-3000:]
    assert steps_run(first.stdout) == 2
    assert f"{TRAIN_SHARDS[1]} in {data_dir}" in first.stdout
    assert "records dropped" in first.stdout
    assert not (run_dir / "final.keras").exists()
    assert "final_model" not in completion(run_dir)
    assert read_backup(run_dir / "backup")["epoch"] == 1

    marker = tmp_path / "export-in-place"
    second = run_killed_when(
        train_command_paused_before_verifying_export(flags, marker),
        marker.exists, tmp_path / "second",
    )  # fmt: skip
    assert second.returncode == -9, second.stderr[-3000:]
    assert (run_dir / "export" / "1" / "saved_model.pb").is_file()
    assert "nothing left to train" in second.stdout
    assert steps_run(second.stdout) == 0
    assert f"saved {run_dir / 'final.keras'}" in second.stdout
    assert set(completion(run_dir)) == {"training", "final_model"}
    final_written = (run_dir / "final.keras").stat().st_mtime_ns

    third = run_training_here(flags, capsys)
    assert third.returncode == 0, third.stderr[-3000:]
    assert steps_run(third.stdout) == 0
    assert "final.keras is already saved (checked)" in third.stdout
    assert (run_dir / "final.keras").stat().st_mtime_ns == final_written
    # The sidecar records the dataset's joints, so the loaders need no config.
    sidecar = json.loads((run_dir / "final.json").read_text())
    dataset = json.loads((data_dir / "dataset.json").read_text())
    assert sidecar["joint_names"] == dataset["joint_names"]
    assert sidecar["builder_arguments"]["n_joints"] == len(dataset["joint_names"])
    assert f"exported {run_dir / 'export' / '1'}" in third.stdout
    assert set(completion(run_dir)) == {"training", "final_model", "export"}
    exported = (run_dir / "export" / "1" / "saved_model.pb").stat().st_mtime_ns

    # A final.keras cut in half: the export program says it is damaged, and
    # the next run writes it again without training or exporting again.
    data = (run_dir / "final.keras").read_bytes()
    (run_dir / "final.keras").write_bytes(data[: len(data) // 2])
    caplog.clear()
    status = export_main(["--model", str(run_dir / "final.keras"),
                          "--out", str(tmp_path / "out")])  # fmt: skip
    assert status == 2
    assert "final.keras is damaged" in caplog.text
    assert "File not found" not in caplog.text

    time.sleep(0.01)
    fourth = run_training_here(flags, capsys)
    assert fourth.returncode == 0, fourth.stderr[-3000:]
    assert steps_run(fourth.stdout) == 0
    assert f"saved {run_dir / 'final.keras'}" in fourth.stdout
    assert "is already exported (checked)" in fourth.stdout
    assert (run_dir / "export" / "1" / "saved_model.pb").stat().st_mtime_ns == (
        exported
    )
