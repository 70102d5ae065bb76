"""Reader for the MPII single-person JSON (`mpii_annotations.json[.gz]`).

Each entry is one person: `img_paths`, `img_width`, `img_height`, `objpos`,
`scale_provided` (person height / 200 px), `joint_self` (16 x [x, y, visible])
and `isValidation`. An unannotated joint is exactly (0, 0) (checked on all
25,204 people); annotated ones may lie a few pixels outside the frame.

Head boxes are not in the JSON. The standard validation ground truth
(`detections_our_format.mat`) holds them for the 2,958 validation people in
the JSON's order; `read_mpii_head_boxes` checks that order joint by joint.
"""

import math
from pathlib import Path

import numpy as np

from keras_hourglass.data.formats.mat_files import load_mat_variables
from keras_hourglass.data.formats.mat_files import require_variable
from keras_hourglass.data.formats.people import PersonRecord
from keras_hourglass.data.formats.people import SkipLog
from keras_hourglass.data.formats.people import make_checked_record
from keras_hourglass.files import read_json
from keras_hourglass.joint_sets import MPII_16

# The PCKh normaliser is this fraction of the head box diagonal.
HEAD_BOX_DIAGONAL_FRACTION = 0.6

# Joints of the .mat and the JSON agree to rounding; the .mat clips a few
# coordinates at the image border to exactly 0, which are not compared.
JOINT_MATCH_TOLERANCE_PIXELS = 1.0


def read_mpii_head_boxes(mat_path, validation_entries, json_name="the JSON"):
    """Returns [(head_box, normalizer)] for the validation entries, in order;
    ValueError naming the file when person count or joints differ."""
    variables = load_mat_variables(mat_path)
    positions = require_variable(variables, "pos_gt_src", mat_path)
    head_boxes = require_variable(variables, "headboxes_src", mat_path)
    if positions.shape[2] != len(validation_entries):
        raise ValueError(
            f"{mat_path}: {positions.shape[2]} validation people, but {json_name} "
            f"has {len(validation_entries)} entries with isValidation = 1"
        )
    results = []
    for ordinal, entry in enumerate(validation_entries):
        json_joints = np.asarray(entry["joint_self"], dtype=np.float64)[:, :2]
        mat_joints = positions[:, :, ordinal]
        compared = (json_joints != 0) & (mat_joints != 0)
        difference = np.abs(json_joints - mat_joints)[compared]
        if np.any(difference > JOINT_MATCH_TOLERANCE_PIXELS):
            raise ValueError(
                f"{mat_path}: validation person {ordinal} does not match {json_name} "
                f"validation entry {ordinal} ({entry.get('img_paths')}); "
                "the files are not in the same order"
            )
        (x1, y1), (x2, y2) = head_boxes[:, :, ordinal]
        diagonal = math.hypot(x2 - x1, y2 - y1)
        head_box = tuple(float(v) for v in (x1, y1, x2, y2))
        results.append((head_box, HEAD_BOX_DIAGONAL_FRACTION * diagonal))
    return results


def _record_from_entry(entry):
    joints_and_flags = np.asarray(entry["joint_self"], dtype=np.float64)
    if joints_and_flags.ndim != 2 or joints_and_flags.shape[1] < 3:
        joints_and_flags = np.zeros((0, 3))
    joints = joints_and_flags[:, :2]
    annotated = ~((joints[:, 0] == 0) & (joints[:, 1] == 0))
    return PersonRecord(
        image_id=str(entry["img_paths"]),
        split="valid" if entry.get("isValidation") else "train",
        joints=joints,
        annotated=annotated.astype(np.int64),
        visible=(joints_and_flags[:, 2] > 0).astype(np.int64),
        center=tuple(float(v) for v in entry["objpos"]),
        scale=float(entry["scale_provided"]),
        image_size=(int(entry["img_width"]), int(entry["img_height"])),
    )


def read_mpii(annotation_path, image_dir, valid_gt_path=None, max_examples=3):
    """Reads the MPII JSON (`.json[.gz]`) into PersonRecords, with head boxes
    from `valid_gt_path` (`detections_our_format.mat`); returns (records, log)."""
    annotation_path, image_dir = Path(annotation_path), Path(image_dir)
    entries = read_json(annotation_path, what="annotation file")
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{annotation_path}: expected a non-empty list of people")
    if not image_dir.is_dir():
        raise FileNotFoundError(f"image folder not found: {image_dir}")
    # One directory listing instead of 25,000 stat calls.
    present_images = {path.name for path in image_dir.iterdir()}
    head_boxes = {}
    if valid_gt_path is not None:
        validation = [
            e for e in entries if isinstance(e, dict) and e.get("isValidation")
        ]
        boxes = read_mpii_head_boxes(valid_gt_path, validation, annotation_path.name)
        head_boxes = {id(e): box for e, box in zip(validation, boxes, strict=True)}
    skip_log = SkipLog(max_examples)
    records, people_per_image = [], {}
    for index, entry in enumerate(entries):
        where = f"{annotation_path.name} entry {index}"
        try:
            record = _record_from_entry(entry)
        except (KeyError, TypeError, ValueError) as error:
            skip_log.skip(f"malformed entry ({type(error).__name__}: {error})", where)
            continue
        where = f"{where} ({record.image_id})"
        if record.image_id not in present_images:
            skip_log.skip("image missing", where)
            continue
        record.image_path = image_dir / record.image_id
        record.head_box, record.normalizer = head_boxes.get(id(entry), (None, None))
        record.person_index = people_per_image.get(record.image_id, 0)
        record = make_checked_record(record, MPII_16.num_joints, skip_log, where)
        if record is not None:
            people_per_image[record.image_id] = record.person_index + 1
            records.append(record)
    return records, skip_log
