"""A dataset folder replaced whole or not at all.

`make_tfrecords` writes into a fresh hidden folder beside `--out`
(`.NAME.converting-XXXX`) and calls `swap_in` only when the conversion
succeeded: the old folder is renamed aside, the new one renamed into place,
files that were not part of the old dataset (notes, other folders) moved
across, and the old one deleted. A failed or interrupted run leaves the old
dataset untouched; a crash between the two renames is repaired by the next
run (`restore_set_aside`).

All of this runs with the converter's lock held
(`folder_lock.lock_dataset_folder`: `.NAME.lock` beside `--out`), so no
other converter touches these folders meanwhile.
"""

import logging
import os
import shutil
import tempfile
from pathlib import Path

from keras_hourglass.data.metadata import METADATA_FILE_NAME

LOGGER = logging.getLogger("training.make_tfrecords")


def _set_aside_folders(out_dir):
    return sorted(out_dir.parent.glob(f".{out_dir.name}.old-*"))


def restore_set_aside(out_dir):
    """Repairs what a killed conversion left beside `out_dir`: puts back an old
    dataset set aside but never replaced, and deletes unfinished work
    folders. Call with the lock held (so none of them is in use)."""
    out_dir = Path(out_dir).absolute()
    for unfinished in out_dir.parent.glob(f".{out_dir.name}.converting-*"):
        LOGGER.warning("removing %s left by an interrupted run", unfinished)
        shutil.rmtree(unfinished, ignore_errors=True)
    for aside in _set_aside_folders(out_dir):
        old_dataset = aside / "dataset"
        if not out_dir.exists() and old_dataset.is_dir():
            LOGGER.warning("restoring %s from an interrupted run", out_dir)
            os.rename(old_dataset, out_dir)
        shutil.rmtree(aside)  # otherwise the swap had finished but for cleanup


def holds_dataset(out_dir):
    """True when `out_dir` holds a `dataset.json` or TFRecord shards."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        return False
    return (out_dir / METADATA_FILE_NAME).exists() or any(out_dir.glob("*.tfrecord"))


def _is_dataset_file(path):
    return path.name == METADATA_FILE_NAME or path.name.endswith(".tfrecord")


def make_work_folder(out_dir):
    """Creates and returns the fresh hidden folder the conversion writes into."""
    out_dir = Path(out_dir).absolute()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{out_dir.name}.converting-"
    return Path(tempfile.mkdtemp(prefix=prefix, dir=out_dir.parent))


def swap_in(work_dir, out_dir):
    """Replaces `out_dir` by the finished `work_dir` (module doc); files of
    `out_dir` that are not shards or `dataset.json` are kept."""
    out_dir = Path(out_dir).absolute()
    if not out_dir.exists():
        os.rename(work_dir, out_dir)
        return
    aside = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
    os.rename(out_dir, aside / "dataset")
    os.rename(work_dir, out_dir)
    for path in (aside / "dataset").iterdir():
        if not _is_dataset_file(path):
            os.rename(path, out_dir / path.name)
    shutil.rmtree(aside)


def remove_work_folder(work_dir):
    """Deletes an unfinished work folder (the old dataset stays as it was)."""
    shutil.rmtree(work_dir, ignore_errors=True)
