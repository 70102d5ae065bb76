"""One ground-truth structure for every evaluation, and `from_arrays` to build it.

Import these names from `evaluation.ground_truth`, which adds the file readers.
Another module (for example a TFRecord reader) plugs in by calling
`from_arrays` with plain arrays.
"""

from dataclasses import dataclass

import numpy as np

from keras_hourglass.joint_sets import metric_joint_set


class EvaluationInputError(ValueError):
    """Bad evaluation input; the message names the file or record."""


@dataclass(frozen=True)
class GroundTruth:
    """Annotated people in original-image pixel coordinates.

    Attributes:
        joints: float64 array, N x K x 2. (x, y) per joint; pixel centres at
            integers. Values of unannotated joints are kept but never used.
        annotated: bool array, N x K. True where the joint is labelled (MPII
            `jnt_missing == 0`); this, not the occlusion flag, decides which
            joints are scored.
        normalizer: float64 array, N. PCKh normaliser, 0.6 x head-box
            diagonal; NaN where the person has no head box.
        head_boxes: float64 array N x 4 (x1, y1, x2, y2), or None.
        joint_names: tuple of str, K names.
        source: str. The file (or description) the data came from, for errors.
    """

    joints: np.ndarray
    annotated: np.ndarray
    normalizer: np.ndarray
    head_boxes: np.ndarray | None
    joint_names: tuple
    source: str

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
    return 0.6 * diagonals


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


def _check_normalizer(normalizer, num_people, source):
    if normalizer.shape != (num_people,):
        raise EvaluationInputError(
            f"{source}: expected {num_people} normalisers, got shape {normalizer.shape}"
        )
    # NaN is the one allowed marker of "unknown"; anything else must be a size.
    bad = ~np.isnan(normalizer) & ~(np.isfinite(normalizer) & (normalizer > 0))
    if bad.any():
        person = int(np.flatnonzero(bad)[0])
        raise EvaluationInputError(
            f"{source}: person {person} has an invalid PCKh normaliser "
            f"{normalizer[person]!r} (must be > 0)"
        )


def from_arrays(
    joints,
    annotated,
    normalizer=None,
    head_boxes=None,
    joint_names=None,
    source="arrays",
):
    """Builds a validated `GroundTruth` from plain arrays.

    Args:
        joints: array-like, N x K x 2. Original-image pixel coordinates.
        annotated: array-like, N x K. Truthy where the joint is labelled.
        normalizer: array-like N or None. PCKh normalisers (NaN = unknown).
            Defaults to 0.6 x head-box diagonal when `head_boxes` is given,
            else all unknown.
        head_boxes: array-like N x 4 (x1, y1, x2, y2) or None.
        joint_names: sequence of K str or None. Defaults to the MPII names for
            16 joints, LSP names for 14, numbered names otherwise.
        source: str. Named in every error message.

    Returns:
        GroundTruth.

    Raises:
        EvaluationInputError: a wrong shape, a non-finite annotated joint or
            an invalid normaliser; the message names `source` and the person.
    """
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
    if normalizer is None:
        normalizer = (
            head_box_normalizers(head_boxes)
            if head_boxes is not None
            else np.full(num_people, np.nan)
        )
    normalizer = np.asarray(normalizer, dtype=np.float64).reshape(-1)
    _check_normalizer(normalizer, num_people, source)
    if joint_names is None:
        joint_names = metric_joint_set(num_joints).joint_names
    joint_names = tuple(str(name) for name in joint_names)
    if len(joint_names) != num_joints:
        raise EvaluationInputError(
            f"{source}: {len(joint_names)} joint names for {num_joints} joints"
        )
    return GroundTruth(
        joints=joints,
        annotated=annotated,
        normalizer=normalizer,
        head_boxes=head_boxes,
        joint_names=joint_names,
        source=str(source),
    )
