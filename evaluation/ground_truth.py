"""Ground-truth readers: every format becomes one `GroundTruth`.

- MPII validation `detections_our_format.mat` (Tompson et al.), the arrays the
  standard PCKh script reads: `pos_gt_src` (16 x 2 x N), `jnt_missing`
  (16 x N, 1 = not annotated), `headboxes_src` (2 corners x 2 x N).
- pose-hg `valid.h5`: `part` (N x 16 x 2), `normalize` (N); a joint at (0, 0)
  is unannotated, which on the validation split matches `jnt_missing` exactly.
- This project's annotation JSON: a list (or `{"people": [...]}`) of entries
  with `joints` (K x [x, y]), `joints_annotated`, optionally
  `pckh_normaliser_0.6_headbox_diag` or `headbox_x1y1x2y2` (PCKh) and
  `person_box_side` (box PCK).
- LSP `joints.mat`: `joints` 14 x 3 x N (LSP-extended; flag 1 = annotated)
  or 3 x 14 x N (original LSP; every joint scored, as eval_pose does).
"""

import logging
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from keras_hourglass.data.formats.mat_files import (
    InputFileError as EvaluationInputError,
)
from keras_hourglass.data.formats.mat_files import existing_file
from keras_hourglass.data.formats.mat_files import load_mat_variables
from keras_hourglass.data.formats.mat_files import require_variable as _require
from keras_hourglass.data.formats.mpii import HEAD_BOX_DIAGONAL_FRACTION
from keras_hourglass.files import JsonFileError
from keras_hourglass.files import read_json
from keras_hourglass.joint_sets import metric_joint_set

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GroundTruth:
    """Annotated people: `joints` [N, K, 2] in original-image px (pixel
    centres at integers); `annotated` [N, K] (MPII `jnt_missing == 0`: this,
    not the occlusion flag, decides which joints are scored); per person the
    PCKh `normalizer` (0.6 x head-box diagonal) and the `person_sizes` of box
    PCK, NaN where unknown; `source` is named in errors."""

    joints: np.ndarray
    annotated: np.ndarray
    normalizer: np.ndarray
    head_boxes: np.ndarray | None
    joint_names: tuple
    source: str
    person_sizes: np.ndarray | None = None

    @property
    def num_people(self):
        return self.joints.shape[0]

    @property
    def num_joints(self):
        return self.joints.shape[1]


def head_box_normalizers(head_boxes):
    """0.6 x the diagonal of each x1, y1, x2, y2 head box (the MPII SC_BIAS)."""
    head_boxes = np.asarray(head_boxes, dtype=np.float64)
    diagonals = np.linalg.norm(head_boxes[:, 2:4] - head_boxes[:, 0:2], axis=1)
    return HEAD_BOX_DIAGONAL_FRACTION * diagonals


def _check_joints(joints, annotated, source):
    if joints.ndim != 3 or joints.shape[2] != 2:
        raise EvaluationInputError(
            f"{source}: ground-truth joints must be N x K x 2, got {joints.shape}"
        )
    if annotated.shape != joints.shape[:2]:
        raise EvaluationInputError(
            f"{source}: annotated flags have shape {annotated.shape}, "
            f"expected {joints.shape[:2]} (one per joint)"
        )
    bad = ~np.isfinite(joints).all(axis=2) & annotated
    if bad.any():
        person, joint = np.argwhere(bad)[0]
        raise EvaluationInputError(
            f"{source}: person {person} joint {joint} is annotated but its "
            f"coordinates are not finite ({bad.sum()} such joints)"
        )


def _per_person(values, num_people, what, source):
    """`values` as float64 [num_people]; an error naming `source` otherwise."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if values.shape != (num_people,):
        raise EvaluationInputError(
            f"{source}: expected {num_people} {what}, got shape {values.shape}"
        )
    return values


def from_arrays(joints, annotated, normalizer=None, head_boxes=None,
                joint_names=None, source="arrays", person_sizes=None):  # fmt: skip
    """A validated `GroundTruth` from plain arrays; `normalizer` defaults to
    0.6 x the `head_boxes` diagonal (else unknown), `joint_names` to the
    built-in set with K joints. Errors name `source` and the person."""
    joints = np.asarray(joints, dtype=np.float64)
    annotated = np.asarray(annotated).astype(bool)
    _check_joints(joints, annotated, source)
    num_people, num_joints = annotated.shape
    if head_boxes is not None:
        head_boxes = np.asarray(head_boxes, dtype=np.float64)
        if head_boxes.shape != (num_people, 4):
            raise EvaluationInputError(
                f"{source}: head boxes must be N x 4, got {head_boxes.shape}"
            )
    if normalizer is None and head_boxes is not None:
        normalizer = head_box_normalizers(head_boxes)
    elif normalizer is None:
        normalizer = np.full(num_people, np.nan)
    normalizer = _per_person(normalizer, num_people, "normalisers", source)
    # NaN is the one allowed marker of "unknown"; anything else must be a size.
    bad = ~np.isnan(normalizer) & ~(np.isfinite(normalizer) & (normalizer > 0))
    if bad.any():
        person = int(np.flatnonzero(bad)[0])
        raise EvaluationInputError(
            f"{source}: person {person} has an invalid PCKh normaliser "
            f"{normalizer[person]!r} (must be > 0)"
        )
    if joint_names is None:
        joint_names = metric_joint_set(num_joints).joint_names
    joint_names = tuple(str(name) for name in joint_names)
    if len(joint_names) != num_joints:
        raise EvaluationInputError(
            f"{source}: {len(joint_names)} joint names for {num_joints} joints"
        )
    if person_sizes is not None:
        person_sizes = _per_person(person_sizes, num_people, "person box sizes", source)
    return GroundTruth(joints, annotated, normalizer, head_boxes, joint_names,
                       str(source), person_sizes)  # fmt: skip


# `dataset_joints` of detections_our_format.mat; the groups assume this order.
MPII_MAT_JOINT_ORDER = (
    "rank", "rkne", "rhip", "lhip", "lkne", "lank", "pelv", "thor",
    "neck", "head", "rwri", "relb", "rsho", "lsho", "lelb", "lwri",
)  # fmt: skip


def load_h5_datasets(path, names):
    """The datasets `names` of an HDF5 file as float64 arrays."""
    path = existing_file(path)
    try:
        with h5py.File(path, "r") as file:
            missing = [name for name in names if name not in file]
            if missing:
                raise EvaluationInputError(
                    f"{path}: dataset(s) {missing} missing (found: {sorted(file)})"
                )
            return [np.asarray(file[name], dtype=np.float64) for name in names]
    except OSError as error:
        raise EvaluationInputError(
            f"{path}: not a readable HDF5 file ({error})"
        ) from error


def _check_mpii_joint_order(variables, path):
    if "dataset_joints" not in variables:
        return
    names = tuple(
        str(np.ravel(cell)[0]) for cell in np.ravel(variables["dataset_joints"])
    )
    if names != MPII_MAT_JOINT_ORDER:
        raise EvaluationInputError(
            f"{path}: dataset_joints {names} is not the MPII order "
            f"{MPII_MAT_JOINT_ORDER}"
        )


def read_mpii_validation_mat(path, variables=None):
    """Reads Tompson's `detections_our_format.mat` (`variables`: if loaded)."""
    variables = variables or load_mat_variables(path)
    _check_mpii_joint_order(variables, path)
    joints = _require(variables, "pos_gt_src", path).astype(np.float64)
    missing = _require(variables, "jnt_missing", path)
    corners = _require(variables, "headboxes_src", path).astype(np.float64)
    if joints.ndim != 3 or joints.shape[1] != 2 or corners.shape[:2] != (2, 2):
        raise EvaluationInputError(
            f"{path}: expected pos_gt_src K x 2 x N and headboxes_src 2 x 2 x N, "
            f"got {joints.shape} and {corners.shape}"
        )
    joints = joints.transpose(2, 0, 1)
    annotated = np.asarray(missing).T == 0
    head_boxes = np.concatenate([corners[0].T, corners[1].T], axis=1)
    at_origin = (annotated & (joints == 0).all(axis=2)).sum()
    if at_origin:
        # The released file has a few; the standard script scores them as
        # annotated, so do we, but say so.
        logger.warning("%s: %d annotated joints lie at (0, 0)", path, at_origin)
    return from_arrays(joints, annotated, head_boxes=head_boxes, source=str(path))


def read_pose_hg_h5(path):
    """Reads a pose-hg `valid.h5` / `test.h5` (datasets `part`, `normalize`)."""
    joints, normalizer = load_h5_datasets(path, ("part", "normalize"))
    annotated = ~(joints == 0).all(axis=-1)
    return from_arrays(joints, annotated, normalizer=normalizer, source=str(path))


def _entry_normalizer(entry):
    if entry.get("pckh_normaliser_0.6_headbox_diag") is not None:
        return float(entry["pckh_normaliser_0.6_headbox_diag"])
    if entry.get("headbox_x1y1x2y2") is not None:
        box = np.asarray(entry["headbox_x1y1x2y2"], dtype=np.float64).reshape(1, 4)
        return float(head_box_normalizers(box)[0])
    return np.nan


def _entry_arrays(entry, where):
    try:
        joints = np.asarray(entry["joints"], dtype=np.float64)
        annotated = np.asarray(entry["joints_annotated"]).astype(bool)
        normalizer = _entry_normalizer(entry)
        side = entry.get("person_box_side")
        person_size = np.nan if side is None else float(side)
    except (KeyError, TypeError, ValueError) as error:
        raise EvaluationInputError(f"{where}: bad entry ({error!r})") from error
    if joints.ndim != 2 or joints.shape[1] not in (2, 3):
        raise EvaluationInputError(f"{where}: joints must be K x 2, got {joints.shape}")
    return joints[:, :2], annotated, normalizer, person_size


def read_input_json(path, what):
    """`read_json` of a user's file, its errors as `EvaluationInputError`."""
    try:
        return read_json(path, what)
    except JsonFileError as error:
        raise EvaluationInputError(str(error)) from None


def read_annotation_json(path):
    """Reads this project's annotation JSON (see the module docstring)."""
    path = existing_file(path)
    contents = read_input_json(path, "annotation file")
    entries = contents.get("people") if isinstance(contents, dict) else contents
    if not isinstance(entries, list) or not entries:
        raise EvaluationInputError(f"{path}: expected a non-empty list of people")
    people = []
    for index, entry in enumerate(entries):
        name = entry.get("image", "?") if isinstance(entry, dict) else "?"
        where = f"{path} entry {index} ({name})"
        joints, annotated, normalizer, person_size = _entry_arrays(entry, where)
        if people and joints.shape != people[0][0].shape:
            raise EvaluationInputError(
                f"{where}: {len(joints)} joints, but entry 0 has {len(people[0][0])}"
            )
        if annotated.shape != joints.shape[:1]:
            raise EvaluationInputError(
                f"{where}: {annotated.size} joints_annotated for {len(joints)} joints"
            )
        people.append((joints, annotated, normalizer, person_size))
    joints, annotated, normalizers, person_sizes = zip(*people)
    names = contents.get("joint_names_long") if isinstance(contents, dict) else None
    return from_arrays(
        np.stack(joints), np.stack(annotated), normalizer=np.asarray(normalizers),
        joint_names=names, source=str(path),
        # Files written without box sizes support no box PCK.
        person_sizes=None if np.isnan(person_sizes).all() else person_sizes,
    )  # fmt: skip


def read_lsp_joints_mat(path, variables=None):
    """Reads an LSP / LSP-extended `joints.mat` (`variables`: if loaded)."""
    variables = variables or load_mat_variables(path)
    joints = _require(variables, "joints", path).astype(np.float64)
    if joints.ndim == 3 and joints.shape[1] == 3:
        annotated = joints[:, 2, :].T == 1
        coordinates = joints[:, :2, :].transpose(2, 0, 1)
    elif joints.ndim == 3 and joints.shape[0] == 3:
        coordinates = joints[:2].transpose(2, 1, 0)
        annotated = np.ones(coordinates.shape[:2], dtype=bool)
    else:
        raise EvaluationInputError(
            f"{path}: joints must be K x 3 x N or 3 x K x N, got {joints.shape}"
        )
    return from_arrays(coordinates, annotated, source=str(path))


def read_ground_truth(path):
    """Reads any supported ground-truth file, chosen by suffix and contents."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".json":
        return read_annotation_json(path)
    if suffix in (".h5", ".hdf5"):
        return read_pose_hg_h5(path)
    if suffix == ".mat":
        variables = load_mat_variables(path)
        if "pos_gt_src" in variables:
            return read_mpii_validation_mat(path, variables)
        if "joints" in variables:
            return read_lsp_joints_mat(path, variables)
        raise EvaluationInputError(
            f"{path}: neither 'pos_gt_src' nor 'joints' found (found: "
            f"{sorted(variables)})"
        )
    raise EvaluationInputError(
        f"{path}: unsupported ground-truth format '{suffix}' (.mat, .h5, .json)"
    )
