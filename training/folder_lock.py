"""One program at a time writes to a folder: the one home of the lock.

    with lock_run_directory(config.run_dir, "training.train"):  # run_dir/run.lock
    with lock_dataset_folder(out_dir):     # .NAME.lock beside the dataset folder
    with lock_export_folder(out_dir):      # out_dir/.export.lock

An `fcntl.flock` on the lock file, which the kernel releases however the
program ends (`kill -9` included), so a file left by a dead program on this
host is taken over with a note. The file names its holder for the refusal;
one another host left is respected, since its program cannot be checked.
"""

import fcntl
import json
import os
import socket
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from training.config import ConfigError
from training.programs import ProgramExit

LOCK_FILE_NAME = "run.lock"


class LockHeld(Exception):
    """A running program holds the lock; `holder` is what its file says."""

    def __init__(self, lock_path, holder):
        super().__init__(f"{lock_path} is held by {describe_holder(holder)}")
        self.holder = holder


class LockLeftByAnotherHost(LockHeld):
    """The lock file names a program on another host, which cannot be checked
    from here, so it is respected although no lock is held on it."""


class RunDirectoryLocked(ConfigError):
    """Another program is writing to the run directory."""


def describe_holder(holder):
    """`training.train (pid 12, host a, since 2025-01-01 10:00:00)`."""
    if not holder:
        return "another program (its lock file is being written)"
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder.get("since", 0)))
    return (
        f"{holder.get('program', 'a program')} (pid {holder.get('pid')}, host "
        f"{holder.get('host')}, since {since})"
    )


def read_holder(descriptor):
    """The JSON written by the current holder of an open lock file, or {}."""
    os.lseek(descriptor, 0, os.SEEK_SET)
    text = os.read(descriptor, 4096).decode("utf-8", "replace")
    try:
        holder = json.loads(text)
    except json.JSONDecodeError:
        return {}
    return holder if isinstance(holder, dict) else {}


def write_holder(descriptor, program):
    """Replaces the lock file's content with this process's identity."""
    holder = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "program": program,
        "since": time.time(),
    }
    os.ftruncate(descriptor, 0)
    os.lseek(descriptor, 0, os.SEEK_SET)
    os.write(descriptor, json.dumps(holder).encode())
    os.fsync(descriptor)


def process_is_running(pid):
    """True when a process with this PID exists on this host."""
    try:
        pid = int(pid)
    except (ValueError, TypeError):
        return False
    if pid <= 0:
        return False  # os.kill would address a process group, not a process
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:
        return True  # exists, owned by another user
    return True


def is_current_file(descriptor, path):
    """False when `path` was removed or replaced after it was opened (a
    releasing holder unlinks it)."""
    try:
        return os.stat(path).st_ino == os.fstat(descriptor).st_ino
    except FileNotFoundError:
        return False


def open_locked_file(lock_path, on_held=None):
    """Opens and flocks `lock_path`; returns the descriptor. A running holder
    raises LockHeld, or, given `on_held`, is waited for."""
    while True:
        descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = read_holder(descriptor)
            if on_held is None:
                os.close(descriptor)
                raise LockHeld(lock_path, holder) from None
            on_held(holder)
            fcntl.flock(descriptor, fcntl.LOCK_EX)
        if is_current_file(descriptor, lock_path):
            return descriptor
        os.close(descriptor)  # the file was released and removed meanwhile


def acquire_lock(lock_path, program, on_held=None):
    """Locks `lock_path` for `program`; returns the descriptor. Raises as
    `open_locked_file`, or LockLeftByAnotherHost."""
    lock_path = Path(lock_path)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = open_locked_file(lock_path, on_held)
    previous = read_holder(descriptor)
    if previous and previous.get("host") != socket.gethostname():
        os.close(descriptor)
        raise LockLeftByAnotherHost(lock_path, previous)
    if previous:
        state = "ended" if not process_is_running(previous.get("pid", -1)) else (
            "no longer holds it"
        )  # fmt: skip
        print(
            f"note: taking over the lock left in {lock_path} by "
            f"{describe_holder(previous)}, which {state}"
        )
    write_holder(descriptor, program)
    return descriptor


def release_lock(lock_path, descriptor):
    """Removes the lock file, then releases the lock (so a program that opened
    the file meanwhile sees it is stale and retries)."""
    if is_current_file(descriptor, lock_path):
        Path(lock_path).unlink()
    os.close(descriptor)


def acquire_or_refuse(path, program, error, writer, held_message, on_held=None):
    """`acquire_lock`, each refusal raised as `error`: `held_message(holder)`
    for a running holder, advice naming `writer` for another host's file."""
    try:
        return acquire_lock(path, program, on_held)
    except LockLeftByAnotherHost as left:
        raise error(
            f"{path} was left by {describe_holder(left.holder)}, another host; if "
            f"{writer} any more, delete {path}"
        ) from None
    except LockHeld as held:
        raise error(held_message(held.holder)) from None


@contextmanager
def holding_lock(path, descriptor):
    """Releases the lock of `path`, held as `descriptor`, after the block."""
    try:
        yield
    finally:
        release_lock(path, descriptor)


def acquire_run_lock(run_dir, program):
    """Locks `run_dir`; returns the descriptor (RunDirectoryLocked if held)."""
    return acquire_or_refuse(
        Path(run_dir) / LOCK_FILE_NAME, program, RunDirectoryLocked,
        f"no program there writes to {run_dir}",
        lambda holder: f"{run_dir} is in use by {describe_holder(holder)}; wait "
        "for it to finish, or give this run another --run-dir",
    )  # fmt: skip


def lock_run_directory(run_dir, program):
    """Holds the run directory's lock for the `with` block."""
    descriptor = acquire_run_lock(run_dir, program)
    return holding_lock(Path(run_dir) / LOCK_FILE_NAME, descriptor)


def dataset_lock_path(out_dir):
    """The converter's lock file beside `out_dir`: `.NAME.lock` (not inside
    it, since the whole folder is swapped when a conversion finishes)."""
    out_dir = Path(out_dir).absolute()
    return out_dir.parent / f".{out_dir.name}.lock"


def lock_dataset_folder(out_dir):
    """Holds the converter lock of the dataset folder `out_dir` for the `with`
    block (ProgramExit if another conversion holds it)."""
    path = dataset_lock_path(out_dir)
    descriptor = acquire_or_refuse(
        path, "training.make_tfrecords", ProgramExit,
        f"no conversion there writes {out_dir}",
        lambda holder: f"another conversion, {describe_holder(holder)}, holds "
        f"{path} while writing {out_dir}; wait for it to finish",
    )  # fmt: skip
    return holding_lock(path, descriptor)


class ExportFolderLocked(Exception):
    """A lock file in the export folder was left by a program on another host."""


def lock_export_folder(out_dir):
    """Holds the export lock of `out_dir` for the `with` block, waiting for
    another export on this host (so each gets its own version number)."""
    path = Path(out_dir) / ".export.lock"

    def note_waiting(holder):
        print(
            f"note: another export, {describe_holder(holder)}, is writing to "
            f"{out_dir}; waiting for it to finish", file=sys.stderr, flush=True,
        )  # fmt: skip

    descriptor = acquire_or_refuse(
        path, "training.export", ExportFolderLocked,
        f"no export there writes to {out_dir}", None, on_held=note_waiting,
    )  # fmt: skip
    return holding_lock(path, descriptor)
