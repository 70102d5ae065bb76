"""Reader for a generic keypoint CSV, for custom keypoint sets.

One row per person. Columns:

- `image` (required): image path, relative to `image_dir` (default: the CSV's
  folder) unless absolute.
- `<joint>_x`, `<joint>_y` for each joint, in stored order, pixel centres at
  integers; the column names give the keypoint set. Both cells empty = joint
  not annotated; only one empty = a counted skip.
- `<joint>_visible` (optional): 1 visible, 0 occluded; empty or absent = 1.
- Person centre and scale (optional): `center_x`, `center_y`, `scale` (person
  height / 200 px), or a box `bbox_x`, `bbox_y`, `bbox_w`, `bbox_h` (or `x`,
  `y`, `w`, `h`) with pixel EDGES at integers, as COCO boxes, detectors and
  serving requests: it covers [x, x + w] x [y, y + h]
  (`transforms.person_from_box`). Without either, the annotated joints' box
  with `formats.people.JOINT_BOX_MARGIN` gives them.
- `split` (optional): e.g. train / valid ("val" and "validation" mean valid);
  other names must be plain (`metadata.is_plain_split_name`): a row whose split
  is a path is a counted skip. Without it, `val_count` / `val_fraction` take
  the last rows as "valid".

Flip pairs come from `flip_pairs_text` ("l_wrist:r_wrist,...") or are inferred
from `l_`/`r_` (or `left_`/`right_`) joint-name prefixes.
"""

from pathlib import Path

import numpy as np
import pandas as pd

from keras_hourglass.data.formats.lsp import validation_flags
from keras_hourglass.data.formats.mat_files import existing_file
from keras_hourglass.data.formats.people import PersonRecord
from keras_hourglass.data.formats.people import SkipLog
from keras_hourglass.data.formats.people import make_checked_record
from keras_hourglass.data.image_checks import image_size_or_problem
from keras_hourglass.data.metadata import is_plain_split_name
from keras_hourglass.joint_sets import custom_joint_set
from keras_hourglass.joint_sets import joint_names_from_columns
from keras_hourglass.transforms import person_from_box

SPLIT_ALIASES = {"val": "valid", "validation": "valid", "training": "train"}
BAD_SPLIT_REASON = "split is not a plain name (a-z, 0-9, _ and -)"
BOX_COLUMN_SETS = (("bbox_x", "bbox_y", "bbox_w", "bbox_h"), ("x", "y", "w", "h"))


def read_keypoint_table(csv_path):
    """Returns the CSV as a DataFrame; raises FileNotFoundError or ValueError
    naming the file when it is missing, empty or has no `image` column."""
    csv_path = existing_file(csv_path)
    try:
        table = pd.read_csv(csv_path)
    # Random bytes or another encoding than UTF-8 end in UnicodeDecodeError.
    except (pd.errors.EmptyDataError, pd.errors.ParserError, ValueError) as error:
        raise ValueError(f"{csv_path}: not a readable CSV ({error})") from error
    if "image" not in table.columns:
        raise ValueError(f"{csv_path}: no 'image' column")
    if table.empty:
        raise ValueError(f"{csv_path}: no rows")
    return table


def _row_joints(row, joint_names):
    x = np.array([row[f"{name}_x"] for name in joint_names], dtype=np.float64)
    y = np.array([row[f"{name}_y"] for name in joint_names], dtype=np.float64)
    visible = np.array(
        [row.get(f"{name}_visible", 1) for name in joint_names], dtype=np.float64
    )
    visible = np.where(np.isnan(visible), 1, visible > 0).astype(np.int64)
    return np.stack([x, y], axis=1), visible


def _filled(row, names):
    """True when the row has all these columns and none of the cells is empty."""
    return all(name in row and not pd.isna(row[name]) for name in names)


def _row_center_scale(row):
    """Returns (centre, scale) from the row's centre or box cells, or (None,
    None) when the row has neither (they then come from its joints)."""
    if _filled(row, ("center_x", "center_y", "scale")):
        return (row["center_x"], row["center_y"]), row["scale"]
    for box_columns in BOX_COLUMN_SETS:
        if _filled(row, box_columns):
            return person_from_box([float(row[c]) for c in box_columns])
    return None, None


def _row_split(row, default_split):
    value = row.get("split")
    if value is None or pd.isna(value):
        return default_split
    value = str(value).strip().lower()
    return SPLIT_ALIASES.get(value, value)


def read_keypoint_csv(
    csv_path,
    image_dir=None,
    flip_pairs_text=None,
    val_count=None,
    val_fraction=None,
    max_examples=3,
):
    """Reads a keypoint CSV (module doc) into PersonRecords; returns
    (records, skip_log, joint_set), the JointSet named after the CSV."""
    csv_path = Path(csv_path)
    table = read_keypoint_table(csv_path)
    joint_names = joint_names_from_columns(table.columns)
    joint_set = custom_joint_set(csv_path.stem, joint_names, flip_pairs_text)
    image_dir = Path(image_dir) if image_dir is not None else csv_path.parent
    is_validation = validation_flags(len(table), val_count, val_fraction)
    skip_log, records, sizes, people_per_image = SkipLog(max_examples), [], {}, {}
    for index, row in enumerate(table.to_dict("records")):
        # Row numbers as a spreadsheet shows them (header is line 1).
        where = f"{csv_path.name} line {index + 2} ({row['image']})"
        split = _row_split(row, "valid" if is_validation[index] else "train")
        if not is_plain_split_name(split):
            skip_log.skip(BAD_SPLIT_REASON, f"{where}: split {row['split']!r}")
            continue
        image_path = image_dir / str(row["image"])
        if image_path not in sizes:
            sizes[image_path] = image_size_or_problem(image_path)
        if isinstance(sizes[image_path], str):
            skip_log.skip(sizes[image_path], where)
            continue
        try:
            joints, visible = _row_joints(row, joint_names)
            center, scale = _row_center_scale(row)
            center = None if center is None else tuple(float(c) for c in center)
            scale = None if scale is None else float(scale)
        except (TypeError, ValueError):
            skip_log.skip("non-numeric cell in a number column", where)
            continue
        empty = np.isnan(joints)
        if np.any(empty[:, 0] != empty[:, 1]):
            skip_log.skip("joint with only one coordinate", where)
            continue
        record = PersonRecord(
            image_id=str(row["image"]),
            split=split,
            joints=np.where(empty, 0.0, joints),
            annotated=(~empty[:, 0]).astype(np.int64),
            visible=visible,
            center=center,
            scale=scale,
            image_path=image_path,
            image_size=sizes[image_path],
            person_index=people_per_image.get(image_path, 0),
        )
        record = make_checked_record(record, joint_set.num_joints, skip_log, where)
        if record is not None:
            people_per_image[image_path] = record.person_index + 1
            records.append(record)
    return records, skip_log, joint_set
