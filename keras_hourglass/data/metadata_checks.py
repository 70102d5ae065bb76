"""Checks run once when a `dataset.json` is opened (`metadata.read_metadata`).

- Shard names must be plain relative names inside the dataset folder: a
  `dataset.json` is data, and one that lists `/etc/passwd` or `../x` must not
  make the pipeline open files elsewhere.
- The stated joint count must match the records (`person/num_joints` of the
  first record of each split): a 14-joint `dataset.json` beside 16-joint
  shards would otherwise reject every record one by one and end in a
  misleading message far from the cause.
"""

from pathlib import PurePosixPath
from pathlib import PureWindowsPath

import tensorflow as tf


def shard_name_problem(name):
    """Returns why a shard name from `dataset.json` is refused, or None."""
    if not isinstance(name, str) or not name.strip():
        return f"{name!r} is not a file name"
    posix, windows = PurePosixPath(name), PureWindowsPath(name)
    if posix.is_absolute() or windows.is_absolute() or windows.drive:
        return f"{name!r} is an absolute path"
    if ".." in posix.parts or ".." in windows.parts:
        return f"{name!r} climbs out with '..'"
    return None


def check_shard_names(metadata, json_path):
    """Raises ValueError naming `json_path` and every refused shard name."""
    problems = []
    for split, info in metadata["splits"].items():
        files = info.get("files", []) if isinstance(info, dict) else None
        if not isinstance(files, list):
            problems.append(f"split {split!r}: 'files' is not a list")
            continue
        for name in files:
            problem = shard_name_problem(name)
            if problem:
                problems.append(f"split {split!r}: {problem}")
    if problems:
        raise ValueError(
            f"{json_path}: shard files must be plain names inside the dataset "
            "folder; refused: " + "; ".join(problems)
        )


def first_record_joint_count(shard_path):
    """Returns `person/num_joints` of a shard's first record, or None when the
    shard is missing, empty or its first record unreadable (the pipeline
    counts those)."""
    try:
        for serialized in tf.data.TFRecordDataset(str(shard_path)).take(1):
            example = tf.train.Example.FromString(serialized.numpy())
            values = example.features.feature["person/num_joints"].int64_list.value
            return int(values[0]) if values else None
    except (tf.errors.OpError, ValueError, IndexError):
        return None
    return None


def check_joint_count(metadata, json_path, shard_paths_by_split):
    """Raises ValueError when the first record of any split holds another
    joint count than `metadata["num_joints"]`."""
    stated = metadata["num_joints"]
    for split, paths in shard_paths_by_split.items():
        found = next(
            (c for c in map(first_record_joint_count, paths[:1]) if c is not None),
            None,
        )
        if found is not None and found != stated:
            raise ValueError(
                f"{json_path}: says {stated} joints but the records of split "
                f"{split!r} ({paths[0]}) hold {found}; this dataset.json does "
                "not describe these shards (convert again with "
                "`python -m training.make_tfrecords`)"
            )
