"""The `dataset.json` metadata written beside TFRecord shards.

Contents:

    {"name": str, "source": str (the converter's input format),
     "num_joints": K, "joint_names": [K names],
     "flip_pairs": [[left_index, right_index], ...],
     "skeleton": [[joint_a, joint_b], ...],
     "torso_joints": [left_shoulder_index, right_hip_index] or null,
     "splits": {"train": {"files": [shard names], "count": people,
                          "bytes": encoded bytes,
                          "head_boxes": people with a head box},
                "valid": {...}},
     "skipped": {reason: count}, "warnings": {reason: count},
     "created_with": {converter arguments}}

File names are relative to the JSON's folder. `read_metadata` checks the file
once: plain shard names inside the folder (data must not make the pipeline open
`/etc/passwd`), a usable joint set, sane counts, and `num_joints` joints in each
split's first record (else every record is rejected, far from the cause).
"""

import re
from pathlib import Path
from pathlib import PurePosixPath
from pathlib import PureWindowsPath

import tensorflow as tf

from keras_hourglass.files import read_json
from keras_hourglass.files import write_json_atomically
from keras_hourglass.joint_sets import infer_torso_joints

METADATA_FILE_NAME = "dataset.json"
# Far above any real keypoint set or dataset, far below what stops a program
# from ever finishing an epoch or allocating its outputs.
MAX_JOINTS = 1024
MAX_SPLIT_COUNT = 10**9
SHARD_NAME_PATTERN = re.compile(
    r"^(?P<split>.+)-(\d{5})-of-(?P<total>\d{5})\.tfrecord$"
)

# Split names become file names (`<split>-00000-of-00001.tfrecord`), and a
# CSV's split cells are data: only plain names, never a path.
SPLIT_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def is_plain_split_name(split):
    """True when `split` is safe as the start of a shard file name."""
    return isinstance(split, str) and SPLIT_NAME_PATTERN.fullmatch(split) is not None


def build_dataset_metadata(name, source, joint_set, splits, skip_log, created_with):
    """Returns the metadata dict of a converted dataset; `splits` maps split
    name to {"files", "count", "bytes", "head_boxes"}."""
    return {
        "name": name,
        "source": source,
        "num_joints": joint_set.num_joints,
        "joint_names": list(joint_set.joint_names),
        "flip_pairs": [list(pair) for pair in joint_set.flip_pairs],
        "skeleton": [list(edge) for edge in joint_set.skeleton],
        "torso_joints": (
            None if joint_set.torso_joints is None else list(joint_set.torso_joints)
        ),
        "splits": splits,
        "skipped": dict(skip_log.counts.most_common()),
        "warnings": dict(skip_log.warnings.most_common()),
        "created_with": created_with,
    }


def write_metadata(out_dir, metadata):
    """Writes `dataset.json` into `out_dir` and returns its path."""
    path = Path(out_dir) / METADATA_FILE_NAME
    return write_json_atomically(path, metadata, default=str)


def read_metadata(dir_or_json_path):
    """Returns the checked metadata of a shard folder (or its JSON file), with
    "directory" set to the folder; raises FileNotFoundError or ValueError."""
    path = Path(dir_or_json_path)
    if path.is_dir():
        path = path / METADATA_FILE_NAME
    metadata = read_json(path, what="dataset metadata")
    if not isinstance(metadata, dict):
        raise ValueError(f"{path}: not a JSON object of dataset metadata")
    missing = {"num_joints", "joint_names", "splits"} - set(metadata)
    if missing:
        raise ValueError(f"{path}: metadata lacks {sorted(missing)}")
    check_metadata_fields(metadata, path)
    metadata["directory"] = str(path.parent.resolve())
    check_shard_names(metadata, path)
    check_joint_count(metadata, path)
    return metadata


def is_whole_number(value):
    """True for an int (not a bool, not a float such as 1e12)."""
    return isinstance(value, int) and not isinstance(value, bool)


def index_pairs_problem(pairs, num_joints, what):
    """Returns why `pairs` is not a list of [index, index] pairs of distinct
    joints in range, or None."""
    if not isinstance(pairs, list):
        return f"{what} is not a list of index pairs"
    for pair in pairs:
        if not isinstance(pair, list) or len(pair) != 2:
            return f"{what} entry {pair!r} is not a pair"
        if not all(is_whole_number(i) and 0 <= i < num_joints for i in pair):
            last = num_joints - 1
            return f"{what} entry {pair!r} holds a joint index outside 0..{last}"
        if pair[0] == pair[1]:
            return f"{what} entry {pair!r} pairs a joint with itself"
    return None


def metadata_fields_problem(metadata):
    """Returns why a `dataset.json` dict cannot be used (naming the field), or
    None. Missing splits are none: a run's dataset is read for its joint set."""
    names = metadata.get("joint_names")
    if not isinstance(names, list):
        return "joint_names is not a list of names"
    num_joints = metadata.get("num_joints", len(names))
    if not (is_whole_number(num_joints) and 1 <= num_joints <= MAX_JOINTS):
        return f"num_joints {num_joints!r} is not a whole number in 1..{MAX_JOINTS}"
    if len(names) != num_joints:
        return f"joint_names does not hold num_joints ({num_joints}) names"
    flip_pairs = metadata.get("flip_pairs", [])
    torso_joints = metadata.get("torso_joints")
    for pairs, what in (
        (flip_pairs, "flip_pairs"),
        (metadata.get("skeleton", []), "skeleton"),
        ([] if torso_joints is None else [torso_joints], "torso_joints"),
    ):
        problem = index_pairs_problem(pairs, num_joints, what)
        if problem:
            return problem
    flipped = [index for pair in flip_pairs for index in pair]
    if len(set(flipped)) != len(flipped):
        repeated = sorted({i for i in flipped if flipped.count(i) > 1})
        return f"flip_pairs maps joints {repeated} to more than one partner"
    splits = metadata.get("splits", {})
    if not isinstance(splits, dict):
        return "splits is not a mapping of split names"
    for split, info in splits.items():
        count = info.get("count") if isinstance(info, dict) else None
        if not (is_whole_number(count) and 0 <= count <= MAX_SPLIT_COUNT):
            return (
                f"splits.{split}.count {count!r} is not a whole number in "
                f"0..{MAX_SPLIT_COUNT:,}"
            )
        head_boxes = info.get("head_boxes", 0)
        if not (is_whole_number(head_boxes) and 0 <= head_boxes <= count):
            return (
                f"splits.{split}.head_boxes {head_boxes!r} is not a whole number "
                f"in 0..{count} (the split's count)"
            )
    return None


def torso_joints_of(metadata):
    """The dataset's (left shoulder, right hip) indices, or None when its
    joint set has no torso: as recorded, else found by joint name."""
    if "torso_joints" in metadata:
        torso_joints = metadata["torso_joints"]
        return None if torso_joints is None else tuple(torso_joints)
    return infer_torso_joints(metadata["joint_names"])


def split_head_boxes(metadata, split):
    """How many people of `split` have a head box (a PCKh normaliser): as
    recorded, else all or none as the split's first record has one."""
    paths = split_files(metadata, split)
    info = metadata["splits"][split]
    if "head_boxes" in info:
        return info["head_boxes"]
    normalizer = first_record_value(paths, "person/normalizer") if paths else None
    return info.get("count", 0) if normalizer and normalizer > 0 else 0


def check_metadata_fields(metadata, json_path):
    """Raises ValueError naming `json_path` and the bad field."""
    problem = metadata_fields_problem(metadata)
    if problem:
        raise ValueError(f"{json_path}: {problem}")


def split_files(metadata, split):
    """Returns the absolute shard paths of `split`; ValueError naming the
    known splits when it is not one of them."""
    if split not in metadata["splits"]:
        known = ", ".join(sorted(metadata["splits"]))
        raise ValueError(f"no split {split!r} in the dataset; splits: {known}")
    directory = Path(metadata.get("directory", "."))
    return [str(directory / name) for name in metadata["splits"][split]["files"]]


def list_shard_files(file_patterns):
    """Expands shard paths or globs into sorted paths; FileNotFoundError when a
    pattern matches nothing, ValueError for an empty or incomplete family."""
    if isinstance(file_patterns, str | Path):
        file_patterns = [file_patterns]
    files = []
    for pattern in file_patterns:
        matches = sorted(tf.io.gfile.glob(str(pattern)))
        if not matches:
            raise FileNotFoundError(f"no TFRecord shard matches {pattern!r}")
        for path in matches:
            if tf.io.gfile.stat(path).length == 0:
                raise ValueError(f"TFRecord shard {path!r} is empty")
        if any(wildcard in str(pattern) for wildcard in "*?["):
            check_shard_family(pattern, matches)
        files.extend(matches)
    return files


def check_shard_family(pattern, paths):
    """Raises ValueError when the `<split>-i-of-N` shards a glob found are
    incomplete or mix totals (a half-copied or twice-converted folder)."""
    families = {}
    for path in paths:
        match = SHARD_NAME_PATTERN.match(Path(path).name)
        if match:
            key = (str(Path(path).parent), match["split"])
            families.setdefault(key, []).append(int(match["total"]))
    for (_, split), totals in families.items():
        if len(set(totals)) > 1 or len(totals) != totals[0]:
            raise ValueError(
                f"{pattern}: shards of split {split!r} are incomplete or mixed: "
                f"{[Path(path).name for path in paths]}"
            )


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


def first_record_value(shard_paths, key):
    """Returns the first value of feature `key` in the first record of the
    first shard, or None when that is missing or unreadable."""
    try:
        for serialized in tf.data.TFRecordDataset(str(shard_paths[0])).take(1):
            feature = tf.train.Example.FromString(serialized.numpy()).features.feature
            values = feature[key].int64_list.value or feature[key].float_list.value
            return values[0] if values else None
    except (tf.errors.OpError, ValueError):
        return None
    return None


def check_joint_count(metadata, json_path):
    """Raises ValueError when the first record of any split holds another
    joint count than `metadata["num_joints"]`."""
    stated = metadata["num_joints"]
    for split in metadata["splits"]:
        paths = split_files(metadata, split)
        found = first_record_value(paths, "person/num_joints") if paths else None
        if found is not None and found != stated:
            raise ValueError(
                f"{json_path}: says {stated} joints but the records of split "
                f"{split!r} ({paths[0]}) hold {found}; this dataset.json does "
                "not describe these shards (convert again with "
                "the converter, `hourglass-make-tfrecords`)"
            )
