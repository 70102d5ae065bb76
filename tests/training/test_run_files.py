"""The run directory's own files after crashes and concurrent use: the lock,
the CSV log, the backup pointer and damaged weights."""

import json
import os
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_hourglass.saving import DamagedFileError
from keras_hourglass.saving import check_keras_archive
from training.folder_lock import LOCK_FILE_NAME
from training.folder_lock import RunDirectoryLocked
from training.folder_lock import acquire_run_lock
from training.folder_lock import lock_run_directory
from training.folder_lock import release_lock
from training.resume import read_backup
from training.resume import read_csv_log
from training.resume import restore_weights
from training.resume import trim_csv_log
from training.resume import write_backup

HEADER = "epoch,learning_rate,loss\r\n"


def test_second_holder_is_refused_naming_pid_and_host(tmp_path):
    with lock_run_directory(tmp_path / "run", "first"):
        holder = json.loads((tmp_path / "run" / LOCK_FILE_NAME).read_text())
        assert holder["pid"] == os.getpid()
        with pytest.raises(RunDirectoryLocked, match=f"pid {os.getpid()}") as error:
            acquire_run_lock(tmp_path / "run", "second")
        assert socket.gethostname() in str(error.value)
        assert "first" in str(error.value)
    # Released: the file is gone and the next program gets the lock.
    assert not (tmp_path / "run" / LOCK_FILE_NAME).exists()
    descriptor = acquire_run_lock(tmp_path / "run", "third")
    release_lock(tmp_path / "run" / LOCK_FILE_NAME, descriptor)


def test_lock_of_a_killed_process_on_this_host_is_taken_over(tmp_path, capsys):
    lock_path = tmp_path / LOCK_FILE_NAME
    code = (
        "import os, signal, sys; from training.folder_lock import acquire_run_lock;"
        f"acquire_run_lock({str(tmp_path)!r}, 'doomed');"
        "os.kill(os.getpid(), signal.SIGKILL)"
    )
    dead = subprocess.run([sys.executable, "-c", code], cwd=os.getcwd())
    assert dead.returncode == -9
    dead_pid = json.loads(lock_path.read_text())["pid"]
    with lock_run_directory(tmp_path, "rerun"):
        assert json.loads(lock_path.read_text())["pid"] == os.getpid()
    note = capsys.readouterr().out
    assert f"pid {dead_pid}" in note and "taking over" in note


def test_lock_file_from_another_host_is_not_taken_over(tmp_path):
    (tmp_path / LOCK_FILE_NAME).write_text(
        json.dumps({"pid": 1, "host": "elsewhere", "program": "training.train"})
    )
    with pytest.raises(RunDirectoryLocked, match="elsewhere.*delete"):
        acquire_run_lock(tmp_path, "here")


def test_csv_log_with_a_second_header_and_a_cut_row_is_read_and_repaired(tmp_path):
    path = tmp_path / "training_log.csv"
    # Two writers (a second header) and a kill in the middle of a row.
    path.write_text(HEADER + "0,0.1,1.0\r\n" + HEADER + "1,0.1,0.5\r\n2,0.1,0.")
    header, rows, damaged = read_csv_log(path)
    assert header == ["epoch", "learning_rate", "loss"]
    assert [row["epoch"] for row in rows] == [0, 1]
    assert damaged == 2
    assert trim_csv_log(path, 5) == 0
    assert path.read_text().split() == ["epoch,learning_rate,loss", "0,0.1,1.0",
                                        "1,0.1,0.5"]  # fmt: skip
    assert trim_csv_log(path, 1) == 1
    assert path.read_text().split() == ["epoch,learning_rate,loss", "0,0.1,1.0"]
    assert not list(tmp_path.glob(".*tmp*"))


def test_csv_log_of_garbage_is_emptied_not_fatal(tmp_path):
    path = tmp_path / "training_log.csv"
    path.write_bytes(os.urandom(300) + b"\n")
    assert trim_csv_log(path, 0) == 0
    assert read_csv_log(path)[1] == []


def tiny_model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.01), "mse")
    model.fit(np.ones((2, 3)), np.ones((2, 1)), verbose=0)
    return model


STATE = {"epoch": 1, "steps_done": 0, "steps_per_epoch": 2, "global_step": 2}


@pytest.mark.parametrize(
    "name", ["/etc", "../outside", "step-1/../../outside", "", 7, "step-1/x"]
)
def test_backup_pointer_leading_outside_the_backup_is_refused(tmp_path, name):
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "state.json").write_text(json.dumps(STATE))
    backup = tmp_path / "backup"
    backup.mkdir()
    (backup / "latest.json").write_text(json.dumps({"checkpoint": name}))
    with pytest.raises(ValueError, match="latest.json"):
        read_backup(backup)


def test_backup_pointer_to_a_link_leading_outside_is_refused(tmp_path):
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "state.json").write_text(json.dumps(STATE))
    backup = tmp_path / "backup"
    backup.mkdir()
    (backup / "step-00000002").symlink_to(tmp_path / "outside")
    (backup / "latest.json").write_text(json.dumps({"checkpoint": "step-00000002"}))
    with pytest.raises(ValueError, match="outside"):
        read_backup(backup)


@pytest.mark.parametrize("damage", ["delete", "truncate"])
def test_damaged_backup_weights_name_the_file_and_what_to_do(tmp_path, damage):
    write_backup(tiny_model(), tmp_path, dict(STATE))
    state = read_backup(tmp_path)
    weights = state["weights"]
    if damage == "delete":
        os.remove(weights)
    else:
        data = open(weights, "rb").read()
        open(weights, "wb").write(data[: len(data) // 2])
    with pytest.raises((FileNotFoundError, DamagedFileError)) as error:
        restore_weights(tiny_model(), state)
    assert weights in str(error.value)
    assert f"delete {tmp_path}" in str(error.value)


def test_keras_archive_cut_in_half_is_called_damaged(tmp_path):
    path = tmp_path / "final.keras"
    tiny_model().save(path)
    assert check_keras_archive(path) == path
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DamagedFileError, match=f"{path} is damaged"):
        check_keras_archive(path)
