"""PCKh and PCK on NumPy arrays, exactly as the standard evaluation scripts.

PCKh (MPII) follows Tompson et al.'s script (bearpaw/pytorch-pose
`evaluation/eval_PCKh.py`, from MATLAB `eval_PCKh.m`): error = distance /
(0.6 x head-box diagonal); only annotated joints count (`jnt_missing == 0`),
whatever the visibility flag, a joint never annotated gets NaN; a hit is
`error < threshold`, STRICTLY less (HRNet's and mmpose's copies use `<=`: no
MPII validation error equals 0.5 exactly, so the tables agree, but ties differ).

PCK (LSP/FLIC) follows bearpaw/eval_pose `eval_pck.m`: error normalised by the
ground truth's torso ||left shoulder - right hip||, a hit is `error <=
threshold`; unlike that script, unannotated joints and people without a torso
are skipped (counted in the log).

Box PCK, for joint sets with neither: error normalised by the larger side of
the person's box (`transforms.person_box_side`), as mmpose's
`PCKAccuracy(norm_item="bbox")`, a hit is `error < threshold` (default 0.05).

Summaries give three means, because codebases differ (`evaluation.report`).
"""

import logging
from dataclasses import dataclass

import numpy as np

from evaluation.ground_truth import EvaluationInputError
from keras_hourglass.joint_sets import infer_torso_joints
from keras_hourglass.joint_sets import metric_joint_set

logger = logging.getLogger(__name__)

PCK_METRICS = ("pckh", "pck", "box-pck")
METRIC_LABELS = {"pckh": "PCKh", "pck": "torso PCK", "box-pck": "box PCK"}
DEFAULT_THRESHOLDS = {"pckh": 0.5, "pck": 0.2, "box-pck": 0.05}
METRIC_NORMALIZERS = {
    "pckh": "0.6 x the head-box diagonal",
    "pck": "the torso, left shoulder to right hip",
    "box-pck": "the larger side of the person's box",
}
# The training log's validation column of each metric is `val_<log name>`.
METRIC_LOG_NAMES = {"pckh": "pckh", "pck": "pck", "box-pck": "box_pck"}


# Why a dataset cannot give a metric (box PCK needs only the box sizes).
UNSUPPORTED_REASONS = {
    "pckh": "people lack head boxes",
    "pck": "the joint set names no torso (joints l_shoulder and r_hip)",
}


def choose_pck_metric(requested, has_head_boxes, has_torso, flag="--metric"):
    """The PCK to score: `requested`, or for "auto" PCKh with head boxes, else
    torso PCK with a torso, else box PCK; an error naming `flag` when the data
    cannot give the requested one."""
    supported = {"pckh": has_head_boxes, "pck": has_torso, "box-pck": True}
    if requested == "auto":
        return next(metric for metric, ok in supported.items() if ok)
    if not supported[requested]:
        reason = UNSUPPORTED_REASONS[requested]
        usable = " or ".join(metric for metric, ok in supported.items() if ok)
        raise EvaluationInputError(
            f"{flag} {requested}: {reason}; use auto or {usable}"
        )
    return requested


def describe_metric(metric, threshold):
    """`"box PCK@0.05 (normalised by the larger side of the person's box)"`."""
    return (
        f"{METRIC_LABELS[metric]}@{threshold:g} "
        f"(normalised by {METRIC_NORMALIZERS[metric]})"
    )


# A hit at exactly the threshold: eval_pose's `<=` for torso PCK; Tompson's
# script and mmpose use `<`.
HIT_AT_THRESHOLD = {"pckh": False, "pck": True, "box-pck": False}
# The accuracy curves' thresholds; PCKh's are HRNet's `np.arange(0, 0.51, 0.01)`.
CURVE_THRESHOLDS = {
    "pckh": np.round(np.linspace(0.0, 0.5, 51), 10),
    "pck": np.round(np.linspace(0.0, 0.2, 41), 10),
    "box-pck": np.round(np.linspace(0.0, 0.1, 41), 10),
}


def check_predictions(predictions, ground_truth, where="predictions"):
    """Predictions as float64 N x K x 2; an error when they cannot match."""
    predictions = np.asarray(predictions, dtype=np.float64)
    expected = ground_truth.joints.shape
    if predictions.ndim != 3 or predictions.shape[1:] != expected[1:]:
        raise EvaluationInputError(
            f"{where}: shape {predictions.shape} is not N x {expected[1]} x 2"
        )
    if predictions.shape[0] != expected[0]:
        raise EvaluationInputError(
            f"{where}: {predictions.shape[0]} people, but the ground truth "
            f"{ground_truth.source} has {expected[0]}"
        )
    not_finite = ~np.isfinite(predictions).all(axis=2)
    if not_finite.any():
        person, joint = np.argwhere(not_finite)[0]
        raise EvaluationInputError(
            f"{where}: person {person} joint {joint} is NaN or infinite "
            f"({not_finite.sum()} such joints)"
        )
    return predictions


def normalized_distances(predictions, ground_truth_joints, normalizers):
    """Euclidean distances (N x K) divided by each person's normaliser (N)."""
    distances = np.linalg.norm(
        np.asarray(predictions, np.float64) - np.asarray(ground_truth_joints), axis=-1
    )
    return distances / np.asarray(normalizers, np.float64)[:, None]


def percent_correct(distances, annotated, threshold, inclusive):
    """Per-joint percentage (K) of annotated joints within `threshold` (`<=`
    when `inclusive`); NaN for a joint never annotated."""
    hits = distances <= threshold if inclusive else distances < threshold
    hits = hits & annotated
    counts = annotated.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, 100.0 * hits.sum(axis=0) / counts, np.nan)


def torso_sizes(joints, annotated, torso_joints):
    """||left shoulder - right hip|| per person (N); NaN where either is missing."""
    left_shoulder, right_hip = torso_joints
    sizes = np.linalg.norm(joints[:, left_shoulder] - joints[:, right_hip], axis=-1)
    known = annotated[:, left_shoulder] & annotated[:, right_hip] & (sizes > 0)
    return np.where(known, sizes, np.nan)


def person_normalizers(metric, ground_truth):
    """Each person's normaliser for `metric` (N, NaN where unknown) and what a
    person without one lacks; raises when the ground truth gives none."""
    source = ground_truth.source
    if metric == "pckh":
        unknown = np.isnan(ground_truth.normalizer)
        if unknown.any():
            raise EvaluationInputError(
                f"{source}: {unknown.sum()} people have no head box, so PCKh "
                f"is undefined (first: person {np.flatnonzero(unknown)[0]})"
            )
        return ground_truth.normalizer, "a head box"
    if metric == "pck":
        # MPII's or LSP's for 16 or 14 joints, else found by name.
        built_in = metric_joint_set(ground_truth.num_joints).torso_joints
        torso_joints = built_in or infer_torso_joints(ground_truth.joint_names)
        if torso_joints is None:
            raise EvaluationInputError(
                f"{source}: torso PCK needs joints named l_shoulder and r_hip, "
                f"which these {ground_truth.num_joints} joints lack; score box "
                "PCK (--metric box-pck) instead"
            )
        joints, annotated = ground_truth.joints, ground_truth.annotated
        return torso_sizes(joints, annotated, torso_joints), "both torso joints"
    if ground_truth.person_sizes is None:
        raise EvaluationInputError(
            f"{source}: box PCK needs each person's box size, which this ground "
            "truth does not give"
        )
    return ground_truth.person_sizes, "a person box"


def scored_distances(metric, predictions, ground_truth, report_skipped=True):
    """Normalised distances (N x K) and the annotated mask of the people with
    a normaliser; the others are skipped (logged when `report_skipped`)."""
    predictions = check_predictions(predictions, ground_truth)
    normalizers, what = person_normalizers(metric, ground_truth)
    usable = np.isfinite(normalizers) & (normalizers > 0)
    if report_skipped and not usable.all():
        logger.warning(
            "%s: skipped %d of %d people without %s",
            ground_truth.source, (~usable).sum(), usable.size, what,
        )  # fmt: skip
    distances = normalized_distances(predictions, ground_truth.joints, normalizers)
    return distances, ground_truth.annotated & usable[:, None]


def accuracy_curve(metric, predictions, ground_truth):
    """(thresholds [T], per-joint accuracy T x K in percent); skips unlogged."""
    thresholds = CURVE_THRESHOLDS[metric]
    distances, annotated = scored_distances(
        metric, predictions, ground_truth, report_skipped=False
    )
    inclusive = HIT_AT_THRESHOLD[metric]
    curve = [percent_correct(distances, annotated, t, inclusive) for t in thresholds]
    return thresholds, np.stack(curve)


@dataclass(frozen=True)
class PckSummary:
    """Per-joint values (NaN when never annotated) and annotated counts, the
    paper's columns (Head ... Ankle and the unweighted Mean), hits over
    annotated joints of the Mean's joints, and the mean over every joint,
    in percent; `metric` is a `METRIC_LABELS` value."""

    metric: str
    threshold: float
    per_joint: dict
    joint_counts: dict
    groups: dict
    total_count_weighted: float
    mean_all_joints: float


def _nan_mean(values):
    values = np.asarray(values, np.float64)
    return (
        float(values[~np.isnan(values)].mean()) if (~np.isnan(values)).any() else np.nan
    )


def summarize(per_joint, joint_counts, joint_names, metric="PCKh", threshold=0.5):
    """Paper-table columns and the three means; NaN joints count in none."""
    per_joint = np.asarray(per_joint, np.float64)
    counts = np.asarray(joint_counts, np.float64)
    joint_set = metric_joint_set(len(per_joint))
    groups = {
        column: _nan_mean(per_joint[list(ids)])
        for column, ids in joint_set.metric_groups
    }
    mean_ids = list(joint_set.mean_joints)
    groups["Mean"] = _nan_mean(per_joint[mean_ids])
    weights = np.where(np.isnan(per_joint[mean_ids]), 0.0, counts[mean_ids])
    hits = np.nan_to_num(per_joint[mean_ids]) * weights
    total = float(hits.sum() / weights.sum()) if weights.sum() > 0 else np.nan
    return PckSummary(
        metric=metric,
        threshold=float(threshold),
        per_joint=dict(zip(joint_names, per_joint.tolist(), strict=True)),
        joint_counts=dict(zip(joint_names, counts.astype(int).tolist(), strict=True)),
        groups=groups,
        total_count_weighted=total,
        mean_all_joints=_nan_mean(per_joint),
    )


def evaluate_metric(metric, predictions, ground_truth, threshold=None,
                    report_skipped=True):  # fmt: skip
    """The `PckSummary` of `metric` (`threshold` None: the metric's default)."""
    if threshold is None:
        threshold = DEFAULT_THRESHOLDS[metric]
    distances, annotated = scored_distances(
        metric, predictions, ground_truth, report_skipped
    )
    values = percent_correct(distances, annotated, threshold, HIT_AT_THRESHOLD[metric])
    return summarize(values, annotated.sum(axis=0), ground_truth.joint_names,
                     METRIC_LABELS[metric], threshold)  # fmt: skip
