"""PCKh and PCK on NumPy arrays, exactly as the standard evaluation scripts.

PCKh (MPII) follows Tompson et al.'s script as shipped in bearpaw/pytorch-pose
`evaluation/eval_PCKh.py` (and the MATLAB `eval_PCKh.m` it was ported from):

- error = ||prediction - ground truth|| / (0.6 x head-box diagonal);
- only annotated joints count (`jnt_missing == 0`), whatever the visibility
  flag says; a joint never annotated gets NaN;
- a hit is `error < threshold`, STRICTLY less. (HRNet's and mmpose's copies
  use `<=`; on the MPII validation set no error equals 0.5 exactly, so both
  print the same table, but hand-made ties differ.)

PCK (LSP/FLIC) follows bearpaw/eval_pose `eval_pck.m` (Sapp & Taskar): error
normalised by the torso ||left shoulder - right hip|| of the ground truth, a
hit is `error <= threshold`. Unlike that script we also skip unannotated
joints, and people whose torso is unknown are skipped with a logged count.

Summaries (see `summarize`) give three means, because codebases differ:
`Mean` (the paper/Tompson column: unweighted mean over the joint set's mean
joints, 14 for MPII), `total_count_weighted` (hits / annotated over the same
joints, printed as "Mean" by HRNet and mmpose), and `mean_all_joints` (the
unweighted mean over every joint, 16 for MPII).
"""

import logging
from dataclasses import dataclass

import numpy as np

from evaluation.ground_truth import EvaluationInputError
from keras_hourglass.joint_sets import metric_joint_set

logger = logging.getLogger(__name__)

# Thresholds 0, 0.01, ..., 0.5 inclusive (HRNet's `np.arange(0, 0.51, 0.01)`).
PCKH_CURVE_THRESHOLDS = np.round(np.linspace(0.0, 0.5, 51), 10)


def check_predictions(predictions, ground_truth, where="predictions"):
    """Returns predictions as float64 N x K x 2; raises when they cannot match."""
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
    """Per-joint percentage of annotated joints within `threshold` (K).

    `inclusive` picks `<=` over `<`. Joints with no annotation give NaN.
    """
    hits = distances <= threshold if inclusive else distances < threshold
    hits = hits & annotated
    counts = annotated.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, 100.0 * hits.sum(axis=0) / counts, np.nan)


def _pckh_distances(predictions, ground_truth):
    predictions = check_predictions(predictions, ground_truth)
    unknown = np.isnan(ground_truth.normalizer)
    if unknown.any():
        raise EvaluationInputError(
            f"{ground_truth.source}: {unknown.sum()} people have no head box, so "
            f"PCKh is undefined (first: person {np.flatnonzero(unknown)[0]})"
        )
    return normalized_distances(
        predictions, ground_truth.joints, ground_truth.normalizer
    )


def pckh(predictions, ground_truth, threshold=0.5):
    """Per-joint PCKh in percent (K), with the standard script's strict `<`."""
    distances = _pckh_distances(predictions, ground_truth)
    return percent_correct(distances, ground_truth.annotated, threshold, False)


def pckh_curve(predictions, ground_truth, thresholds=PCKH_CURVE_THRESHOLDS):
    """Per-joint PCKh for each threshold: T x K, in percent."""
    distances = _pckh_distances(predictions, ground_truth)
    return np.stack(
        [
            percent_correct(distances, ground_truth.annotated, threshold, False)
            for threshold in thresholds
        ]
    )


def torso_sizes(joints, annotated, torso_joints):
    """||left shoulder - right hip|| per person (N); NaN where either is missing."""
    left_shoulder, right_hip = torso_joints
    sizes = np.linalg.norm(joints[:, left_shoulder] - joints[:, right_hip], axis=-1)
    known = annotated[:, left_shoulder] & annotated[:, right_hip] & (sizes > 0)
    return np.where(known, sizes, np.nan)


def _torso_normalized_inputs(predictions, ground_truth, torso_joints,
                             report_skipped=True):  # fmt: skip
    """Torso-normalised distances and the annotated mask of usable people;
    logs how many people lack a torso unless `report_skipped` is False (the
    count depends on the ground truth only: a caller scoring the same people
    many times reports it once)."""
    predictions = check_predictions(predictions, ground_truth)
    if torso_joints is None:
        torso_joints = metric_joint_set(ground_truth.num_joints).torso_joints
    if torso_joints is None:
        raise EvaluationInputError(
            f"{ground_truth.source}: no torso joints known for "
            f"{ground_truth.num_joints} joints; pass torso_joints"
        )
    torsos = torso_sizes(ground_truth.joints, ground_truth.annotated, torso_joints)
    usable = ~np.isnan(torsos)
    if report_skipped and not usable.all():
        logger.warning(
            "%s: skipped %d of %d people without both torso joints",
            ground_truth.source,
            (~usable).sum(),
            usable.size,
        )
    distances = normalized_distances(predictions, ground_truth.joints, torsos)
    return distances, ground_truth.annotated & usable[:, None]


def pck(predictions, ground_truth, threshold=0.2, torso_joints=None,
        report_skipped=True):  # fmt: skip
    """Per-joint torso-normalised PCK in percent (K), hit = `<=` (eval_pose).

    Args:
        torso_joints: (left shoulder, right hip) indices, or None for the
            joint set's own (MPII 13 and 2, LSP 9 and 2).
        report_skipped: bool. Log the people skipped for lack of a torso.
    """
    distances, annotated = _torso_normalized_inputs(
        predictions, ground_truth, torso_joints, report_skipped
    )
    return percent_correct(distances, annotated, threshold, True)


@dataclass(frozen=True)
class PckSummary:
    """Per-joint values and the paper-table columns, all in percent.

    Attributes:
        metric: str, "PCKh" or "PCK".
        threshold: float.
        per_joint: dict, joint name -> value (NaN when never annotated).
        joint_counts: dict, joint name -> number of annotated instances.
        groups: dict, Head ... Ankle and Mean (the paper's unweighted mean).
        total_count_weighted: float. Hits / annotated over the Mean's joints.
        mean_all_joints: float. Unweighted mean over every joint.
    """

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
    """Paper-table columns and the three means from per-joint values.

    Joints never annotated (NaN) are left out of every mean.
    """
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


def evaluate_pckh(predictions, ground_truth, threshold=0.5):
    """PCKh of all people, summarised as in the paper tables."""
    values = pckh(predictions, ground_truth, threshold)
    counts = ground_truth.annotated.sum(axis=0)
    return summarize(values, counts, ground_truth.joint_names, "PCKh", threshold)


def evaluate_pck(predictions, ground_truth, threshold=0.2, torso_joints=None,
                 report_skipped=True):  # fmt: skip
    """Torso-normalised PCK of all usable people, summarised as in the tables
    (`report_skipped` as for `pck`)."""
    distances, annotated = _torso_normalized_inputs(
        predictions, ground_truth, torso_joints, report_skipped
    )
    values = percent_correct(distances, annotated, threshold, True)
    counts = annotated.sum(axis=0)
    return summarize(values, counts, ground_truth.joint_names, "PCK", threshold)
