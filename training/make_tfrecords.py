"""Converts a pose dataset into TFRecord shards plus `dataset.json`.

    python -m training.make_tfrecords --format mpii \
        --annotations mpii_annotations.json.gz --images mpii/images \
        --mpii-valid-gt detections_our_format.mat --out data/mpii
    python -m training.make_tfrecords --format synthetic --seed 0 --count 4000 \
        --val-count 400 --out data/synthetic

The other formats and their flags: docs/data.md. The dataset folder is
replaced whole or not at all, under the converter's lock: the conversion
writes a hidden folder beside `--out` and `swap_in` puts it in place, keeping
the user's own files; the next run repairs a crash anywhere in the swap
(`restore_set_aside`), and neither deletes a file it did not write.
"""

import logging
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from scipy.io.matlab import MatReadError

from keras_hourglass.data import metadata as dataset_metadata
from keras_hourglass.data import shards
from keras_hourglass.data.formats.coco import read_coco
from keras_hourglass.data.formats.keypoint_csv import read_keypoint_csv
from keras_hourglass.data.formats.lsp import LSP_FLAG_MEANINGS
from keras_hourglass.data.formats.lsp import read_lsp
from keras_hourglass.data.formats.mpii import read_mpii
from keras_hourglass.data.formats.people import SkipLog
from keras_hourglass.data.formats.synthetic import DEFAULT_JPEG_QUALITY
from keras_hourglass.data.formats.synthetic import DEFAULT_SYNTHETIC_COUNT
from keras_hourglass.data.formats.synthetic import DEFAULT_SYNTHETIC_VAL_COUNT
from keras_hourglass.data.formats.synthetic import iterate_synthetic_records
from keras_hourglass.data.formats.synthetic import synthetic_joint_set
from keras_hourglass.data.metadata import METADATA_FILE_NAME
from keras_hourglass.files import make_temporary_folder
from keras_hourglass.joint_sets import BUILT_IN_JOINT_SETS
from training import folder_lock
from training.cli_flags import add_dataclass_flags
from training.cli_flags import option
from training.cli_flags import program_parser
from training.programs import ProgramExit
from training.programs import command_line
from training.programs import run_main

FORMATS = ("mpii", "lsp", "coco", "csv", "synthetic")


@dataclass
class ConversionConfig:
    """Everything one conversion depends on."""

    format: str = option("", "", FORMATS)
    out: str = option("", "output folder for shards and dataset.json")
    annotations: str | None = option(
        None, "annotation file (json[.gz], joints.mat, csv)"
    )
    images: str | None = option(None, "image folder (csv: base of relative paths)")
    name: str | None = option(
        None, "dataset name in dataset.json (default: the format)"
    )
    mpii_valid_gt: str | None = option(
        None, "detections_our_format.mat: head boxes for valid"
    )
    lsp_flag_meaning: str = option(
        "visible", "visible: LSPET (1 = labelled, visible); occluded: LSP",
        LSP_FLAG_MEANINGS,
    )  # fmt: skip
    valid_annotations: str | None = option(None, "coco: the validation annotation file")
    valid_images: str | None = option(
        None, "coco: validation image folder (default --images)"
    )
    flip_pairs: str | None = option(
        None, "csv: 'l_wrist:r_wrist,...' (default: l_/r_ names)"
    )
    val_count: int | None = option(
        None, "lsp/csv/synthetic: validation people", minimum=0
    )
    val_fraction: float | None = option(None, "lsp/csv: validation fraction", minimum=0)
    seed: int = option(0, "synthetic: dataset seed", minimum=0)
    count: int = option(
        DEFAULT_SYNTHETIC_COUNT, "synthetic: training images", minimum=0
    )
    jpeg_quality: int = option(DEFAULT_JPEG_QUALITY, minimum=1)
    num_shards: int | None = option(
        None, "shards per split (default: from size)", minimum=1
    )
    max_shard_mb: float = option(200.0, "largest shard size", above=0)
    overwrite: bool = option(False, "replace an existing dataset")
    train_patch_size: int = option(
        0, "store training people as patches bounded for crops of this size "
        "(e.g. 256: ~2x the pipeline's samples per core); 0: whole images",
        minimum=0,
    )  # fmt: skip


def parse_config(argv=None):
    """Parses `argv` into a `ConversionConfig`."""
    parser = program_parser("training.make_tfrecords", __doc__.split("\n")[0])
    add_dataclass_flags(parser, ConversionConfig, required=("format", "out"))
    return ConversionConfig(**vars(parser.parse_args(argv)))


def _require(args, *names):
    missing = [f"--{n.replace('_', '-')}" for n in names if getattr(args, n) is None]
    if missing:
        raise ProgramExit(f"--format {args.format} needs {' '.join(missing)}")


def read_records(args, skip_log):
    """Returns (records iterable, record count or None, joint set) for `args`."""
    if args.format == "synthetic":
        val_count = args.val_count
        val_count = DEFAULT_SYNTHETIC_VAL_COUNT if val_count is None else val_count
        records = iterate_synthetic_records(
            args.seed, args.count, val_count, skip_log, args.jpeg_quality
        )
        return records, args.count + val_count, synthetic_joint_set()
    _require(args, "annotations")
    if args.format == "csv":
        records, log, joint_set = read_keypoint_csv(
            args.annotations, args.images, args.flip_pairs,
            args.val_count, args.val_fraction,
        )  # fmt: skip
        skip_log.merge(log)
        return records, len(records), joint_set
    _require(args, "images")
    if args.format == "mpii":
        records, log = read_mpii(args.annotations, args.images, args.mpii_valid_gt)
    elif args.format == "lsp":
        records, log = read_lsp(
            args.annotations, args.images, args.lsp_flag_meaning,
            args.val_count, args.val_fraction,
        )  # fmt: skip
    else:
        records, log = read_coco(args.annotations, args.images, "train")
        if args.valid_annotations:
            valid_images = args.valid_images or args.images
            valid, valid_log = read_coco(args.valid_annotations, valid_images, "valid")
            records += valid
            log.merge(valid_log)
    skip_log.merge(log)
    return records, len(records), BUILT_IN_JOINT_SETS[args.format]


def summary_lines(metadata):
    """Returns the human-readable conversion summary."""
    joints = f"{metadata['num_joints']} joints"
    lines = [f"dataset {metadata['name']!r} ({metadata['source']}, {joints}) "
             f"in {metadata['directory']}"]  # fmt: skip
    for split, info in metadata["splits"].items():
        megabytes = info["bytes"] / 2**20
        lines.append(f"{split}: {info['count']:,} people in {len(info['files'])} "
                     f"shard(s), {megabytes:.1f} MB, "
                     f"{info.get('head_boxes', 0):,} with a head box")  # fmt: skip
    torso = metadata.get("torso_joints")
    names = metadata["joint_names"]
    lines.append(
        f"torso: {names[torso[0]]} to {names[torso[1]]}" if torso else
        "torso: none (no l_shoulder and r_hip joints; no torso PCK)"
    )  # fmt: skip
    lines += [f"skipped ({n:,}): {r}" for r, n in metadata["skipped"].items()]
    lines += [f"warning ({n:,}): {r}" for r, n in metadata["warnings"].items()]
    if not metadata["skipped"]:
        lines.append("skipped: none")
    return lines


# What the format readers raise on a file of another format: parse errors,
# and the lookups that fail on JSON or MATLAB data of another structure.
ANNOTATION_READ_ERRORS = (
    OSError, ValueError, KeyError, IndexError, TypeError, AttributeError, MatReadError,
)  # fmt: skip


def read_annotations(args, skip_log):
    """`read_records`, with a missing or wrong-format annotation file raised
    as a ProgramExit naming the file and the format."""
    try:
        return read_records(args, skip_log)
    except FileNotFoundError as error:
        raise ProgramExit(str(error)) from error
    except ANNOTATION_READ_ERRORS as error:
        files = [args.annotations, args.valid_annotations, args.mpii_valid_gt]
        named = ", ".join(str(path) for path in files if path)
        raise ProgramExit(
            f"{named}: not readable as --format {args.format} annotations "
            f"({type(error).__name__}: {error})"
        ) from error


def convert(args, work_dir, command=None):
    """Writes the shards and `dataset.json` into `work_dir`; returns the
    metadata (ProgramExit when a split or all came out empty)."""
    skip_log = SkipLog()
    records, total, joint_set = read_annotations(args, skip_log)
    spools = shards.spool_records(
        records, work_dir, skip_log, total=total, patch_input_size=args.train_patch_size
    )
    splits = {}
    for split, spool in sorted(spools.items()):
        files = shards.write_split_shards(
            spool, split, work_dir, args.num_shards, args.max_shard_mb * 2**20
        )
        splits[split] = {
            "files": files,
            "count": spool["count"],
            "bytes": spool["bytes"],
            "head_boxes": spool["head_boxes"],
        }
    command = command or command_line("training.make_tfrecords")
    created_with = {**vars(args), "command": command}
    metadata = dataset_metadata.build_dataset_metadata(
        args.name or args.format, args.format, joint_set, splits, skip_log, created_with
    )
    emptied = sorted(set(skip_log.skipped_by_split) - set(splits))
    if not splits or emptied:
        print("\n".join(summary_lines({**metadata, "directory": args.out})))
    source = f"--annotations {args.annotations}" if args.annotations else "the input"
    if not splits:
        raise ProgramExit(
            f"{source}: no people were written; see the skip reasons above"
        )
    if emptied:
        skipped = skip_log.skipped_by_split[emptied[0]]
        raise ProgramExit(
            f"{source}: split {emptied[0]!r} has no usable people (all "
            f"{skipped:,} skipped); see the skip reasons above"
        )
    dataset_metadata.write_metadata(work_dir, metadata)
    return metadata


def main(argv=None):
    """Runs the conversion; returns the metadata written as `dataset.json`."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    args = parse_config(argv)
    out_dir = Path(args.out)
    problem = out_folder_problem(out_dir)
    if problem:
        print(f"error: --out {out_dir}: {problem}", file=sys.stderr)
        raise SystemExit(2)
    with folder_lock.lock_dataset_folder(out_dir):
        restore_set_aside(out_dir)
        if holds_dataset(out_dir) and not args.overwrite:
            raise ProgramExit(f"{out_dir} already holds a dataset; use --overwrite")
        work_dir = make_work_folder(out_dir)
        try:
            convert(args, work_dir, command_line("training.make_tfrecords", argv))
            # The checks every reader makes, before the old dataset is replaced.
            dataset_metadata.read_metadata(work_dir)
        except BaseException:
            shutil.rmtree(work_dir, ignore_errors=True)
            raise
        swap_in(work_dir, out_dir)
    metadata = dataset_metadata.read_metadata(out_dir)
    print("\n".join(summary_lines(metadata)))
    return metadata


LOGGER = logging.getLogger("training.make_tfrecords")


def restore_set_aside(out_dir):
    """Repairs what a killed conversion left beside `out_dir` (lock held): puts
    back a set-aside dataset never replaced, moves in the user's files of a
    replaced one, deletes unfinished work folders."""
    out_dir = Path(out_dir).absolute()
    for unfinished in out_dir.parent.glob(f".{out_dir.name}.converting-*"):
        LOGGER.warning("removing %s left by an interrupted run", unfinished)
        shutil.rmtree(unfinished, ignore_errors=True)
    for aside in sorted(out_dir.parent.glob(f".{out_dir.name}.old-*")):
        old_dataset = aside / "dataset"
        if not out_dir.exists() and old_dataset.is_dir():
            LOGGER.warning("restoring %s from an interrupted run", out_dir)
            os.rename(old_dataset, out_dir)
        elif old_dataset.is_dir():
            move_user_files(old_dataset, out_dir)
        discard_set_aside(aside)


def out_folder_problem(out_dir):
    """Why `out_dir` cannot take a dataset, or None: it must be absent, empty
    or a dataset folder, so a typo naming a folder of photos replaces nothing."""
    out_dir = Path(out_dir)
    if not out_dir.exists() and not out_dir.is_symlink():
        return None
    if not out_dir.is_dir():
        return "is a file, not a dataset folder"
    if (out_dir / METADATA_FILE_NAME).is_file() or not any(out_dir.iterdir()):
        return None
    return (f"folder holds files but no {METADATA_FILE_NAME}; give a new or "
            "empty folder, or a dataset folder this program wrote")  # fmt: skip


def holds_dataset(out_dir):
    """True when `out_dir` holds a `dataset.json` or TFRecord shards."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        return False
    return (out_dir / METADATA_FILE_NAME).exists() or any(out_dir.glob("*.tfrecord"))


def make_work_folder(out_dir):
    """Creates the hidden folder beside `out_dir` the conversion writes into."""
    out_dir = Path(out_dir).absolute()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    return make_temporary_folder(out_dir.parent, f".{out_dir.name}.converting-")


def _is_dataset_file(path):
    return path.name == METADATA_FILE_NAME or path.name.endswith(".tfrecord")


def swap_in(work_dir, out_dir):
    """Replaces `out_dir` by the finished `work_dir`, keeping the user's files."""
    out_dir = Path(out_dir).absolute()
    if not out_dir.exists():
        os.rename(work_dir, out_dir)
        return
    aside = make_temporary_folder(out_dir.parent, f".{out_dir.name}.old-")
    os.rename(out_dir, aside / "dataset")
    os.rename(work_dir, out_dir)
    move_user_files(aside / "dataset", out_dir)
    discard_set_aside(aside)


def move_user_files(old_dataset, out_dir):
    """Moves the user's files of `old_dataset` (all but shards and
    `dataset.json`) into `out_dir`, unless the name is taken."""
    for path in Path(old_dataset).iterdir():
        if not _is_dataset_file(path) and not (out_dir / path.name).exists():
            os.rename(path, out_dir / path.name)


def discard_set_aside(aside):
    """Deletes a set-aside folder holding only the old shards and
    `dataset.json` (anything else is not this program's to delete)."""
    old_dataset = aside / "dataset"
    others = [path for path in aside.iterdir() if path != old_dataset]
    if old_dataset.is_dir():
        others += [path for path in old_dataset.iterdir()
                   if not (path.is_file() and _is_dataset_file(path))]  # fmt: skip
    if others:
        LOGGER.warning("kept %s: it holds files this program did not write", aside)
        return
    shutil.rmtree(aside)


if __name__ == "__main__":
    sys.exit(run_main(main))
