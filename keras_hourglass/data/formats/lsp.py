"""Reader for LSP and LSP-extended `joints.mat` files (14 joints).

`joints` is 3 x 14 x N (LSP) or 14 x 3 x N (LSPET): x, y and a flag per
joint, column n for image `im{n+1}` (`im0001.jpg` / `im00001.jpg`). The flag:

- `flag_meaning="visible"` (LSP-extended): 1 = visible, 0 = not. Flag-0 joints
  carry junk coordinates (all 564 in the real file at x <= 0 or y <= 0), so one
  is annotated (occluded) only strictly inside the image.
- `flag_meaning="occluded"` (original LSP): 1 = occluded, 0 = visible; LSP
  labels every joint (occluded ones by estimate), so all are annotated.

Centre and scale come from the annotated joints' box. The validation part is
the last images, whichever images exist.
"""

from pathlib import Path

import numpy as np

from keras_hourglass.data.formats.mat_files import load_mat_variables
from keras_hourglass.data.formats.mat_files import require_variable
from keras_hourglass.data.formats.people import PersonRecord
from keras_hourglass.data.formats.people import SkipLog
from keras_hourglass.data.formats.people import make_checked_record
from keras_hourglass.data.image_checks import image_size_or_problem
from keras_hourglass.joint_sets import LSP_14

LSP_FLAG_MEANINGS = ("visible", "occluded")


def load_lsp_joints(mat_path):
    """Returns the joints of a `joints.mat` as an N x 14 x 3 float array;
    raises FileNotFoundError or ValueError naming the file."""
    mat = load_mat_variables(mat_path)
    joints = require_variable(mat, "joints", mat_path).astype(np.float64)
    num_joints = LSP_14.num_joints
    if joints.ndim == 3 and joints.shape[:2] == (3, num_joints):
        joints = joints.transpose(2, 1, 0)
    elif joints.ndim == 3 and joints.shape[:2] == (num_joints, 3):
        joints = joints.transpose(2, 0, 1)
    else:
        raise ValueError(
            f"{mat_path}: 'joints' has shape {joints.shape}; expected "
            f"3 x {num_joints} x N or {num_joints} x 3 x N"
        )
    if len(joints) == 0:
        raise ValueError(f"{mat_path}: 'joints' holds no people")
    return joints


def validation_flags(count, val_count=None, val_fraction=None):
    """Returns a bool array marking the last `val_count` (or the last
    round(`val_fraction` x count)) of `count` items as validation."""
    if val_count is not None and val_fraction is not None:
        raise ValueError("give val_count or val_fraction, not both")
    if val_fraction is not None:
        if not 0.0 <= val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
        val_count = round(val_fraction * count)
    val_count = val_count or 0
    if not 0 <= val_count <= count:
        raise ValueError(f"val_count must be in [0, {count}], got {val_count}")
    return np.arange(count) >= count - val_count


def lsp_annotation_flags(joints, flags, image_size, flag_meaning):
    """Returns (annotated, visible) int arrays for one LSP person (see module doc)."""
    if flag_meaning == "occluded":
        # Non-finite joints stay "annotated" so the person is reported, not
        # quietly given fewer joints.
        annotated = np.ones(len(joints), dtype=np.int64)
        return annotated, (flags == 0).astype(np.int64)
    width, height = image_size
    x, y = joints[:, 0], joints[:, 1]
    inside = (x > 0) & (x < width) & (y > 0) & (y < height)
    annotated = (flags > 0) | inside
    return annotated.astype(np.int64), (flags > 0).astype(np.int64)


def find_lsp_image_names(present_names, count):
    """Returns the image name for each of `count` people: `im00001.jpg` style
    (LSPET) when any such file exists, else `im0001.jpg` style (LSP)."""
    digits = 5 if any(f"im{n:05d}.jpg" in present_names for n in (1, count)) else 4
    return [f"im{n:0{digits}d}.jpg" for n in range(1, count + 1)]


def read_lsp(
    joints_mat_path,
    image_dir,
    flag_meaning="visible",
    val_count=None,
    val_fraction=None,
    max_examples=3,
):
    """Reads an LSP or LSP-extended `joints.mat` into PersonRecords, the last
    `val_count` (or `val_fraction`) images "valid"; returns (records, skip_log)."""
    if flag_meaning not in LSP_FLAG_MEANINGS:
        raise ValueError(f"flag_meaning must be one of {LSP_FLAG_MEANINGS}")
    joints_mat_path, image_dir = Path(joints_mat_path), Path(image_dir)
    people = load_lsp_joints(joints_mat_path)
    if not image_dir.is_dir():
        raise FileNotFoundError(f"image folder not found: {image_dir}")
    present_names = {path.name for path in image_dir.iterdir()}
    names = find_lsp_image_names(present_names, len(people))
    is_validation = validation_flags(len(people), val_count, val_fraction)
    skip_log, records = SkipLog(max_examples), []
    for index, (person, name) in enumerate(zip(people, names, strict=True)):
        where = f"{joints_mat_path.name} person {index} ({name})"
        if name not in present_names:
            skip_log.skip("image missing", where)
            continue
        image_size = image_size_or_problem(image_dir / name)
        if isinstance(image_size, str):
            skip_log.skip(image_size, where)
            continue
        joints = person[:, :2]
        annotated, visible = lsp_annotation_flags(
            joints, person[:, 2], image_size, flag_meaning
        )
        record = PersonRecord(
            image_id=name,
            split="valid" if is_validation[index] else "train",
            joints=joints,
            annotated=annotated,
            visible=visible,
            center=None,
            scale=None,
            image_path=image_dir / name,
            image_size=image_size,
        )
        record = make_checked_record(record, LSP_14.num_joints, skip_log, where)
        if record is not None:
            records.append(record)
    return records, skip_log
