"""PCKh / PCK on hand-made cases with known answers, and the Tompson check."""

import logging

import numpy as np
import pytest
import scipy.io

from evaluation.ground_truth import EvaluationInputError
from evaluation.ground_truth import from_arrays
from evaluation.ground_truth import read_mpii_validation_mat
from evaluation.metrics import accuracy_curve
from evaluation.metrics import evaluate_metric
from keras_hourglass.joint_sets import LSP_14
from keras_hourglass.joint_sets import MPII_16

HEAD_TOP, UPPER_NECK, PELVIS, THORAX = 9, 8, 6, 7
R_SHOULDER, L_SHOULDER, R_ANKLE, L_ANKLE = 12, 13, 0, 5


def accuracy(metric, predictions, ground_truth, threshold=None):
    """Per-joint `metric` values (K) of `evaluate_metric`'s summary."""
    summary = evaluate_metric(metric, predictions, ground_truth, threshold)
    return np.array(list(summary.per_joint.values()))


def mpii_people(num_people, normalizer=8.0, seed=0):
    """Random MPII ground truth, all annotated, with a fixed PCKh normaliser.

    Integer coordinates keep `joints + offset - joints` exact, so hits placed
    exactly on the threshold really are on it.
    """
    joints = np.random.default_rng(seed).integers(50, 400, (num_people, 16, 2))
    joints = joints.astype(np.float64)
    annotated = np.ones((num_people, 16), dtype=bool)
    return joints, annotated, np.full(num_people, normalizer)


def test_hit_exactly_at_threshold_is_a_miss_for_pckh():
    # Standard eval_PCKh.py: `scaled_uv_err < threshold` (strict).
    joints, annotated, normalizer = mpii_people(2)
    ground_truth = from_arrays(joints, annotated, normalizer)
    predictions = joints.copy()
    predictions[0, :, 0] += 4.0  # 4 / 8 == 0.5 exactly
    predictions[1, :, 0] += 3.999
    values = accuracy("pckh", predictions, ground_truth, threshold=0.5)
    np.testing.assert_array_equal(values, np.full(16, 50.0))


def test_hit_exactly_at_threshold_is_a_hit_for_torso_pck():
    # eval_pose eval_pck.m: `dist <= range(k)`.
    joints = np.zeros((1, 14, 2))
    joints[0, LSP_14.torso_joints[0]] = (0.0, 0.0)
    joints[0, LSP_14.torso_joints[1]] = (30.0, 40.0)  # torso 50
    ground_truth = from_arrays(joints, np.ones((1, 14), bool))
    predictions = joints.copy()
    predictions[0, :, 1] += 10.0  # 10 / 50 == 0.2 exactly
    assert (
        accuracy("pck", predictions, ground_truth, threshold=0.2).tolist()
        == [100.0] * 14
    )
    assert (
        accuracy("pck", predictions, ground_truth, threshold=0.19).tolist()
        == [0.0] * 14
    )


def test_unannotated_joints_are_ignored_even_when_predicted_badly():
    joints, annotated, normalizer = mpii_people(3)
    annotated[0, R_ANKLE] = False
    predictions = joints.copy()
    predictions[0, R_ANKLE] += 1e6
    summary = evaluate_metric(
        "pckh", predictions, from_arrays(joints, annotated, normalizer)
    )
    assert summary.per_joint["r_ankle"] == 100.0
    assert summary.joint_counts["r_ankle"] == 2
    assert summary.groups["Mean"] == 100.0


def test_joint_never_annotated_is_nan_and_left_out_of_means():
    joints, annotated, normalizer = mpii_people(2)
    annotated[:, L_ANKLE] = False
    predictions = joints.copy()
    predictions[:, R_ANKLE] += 100.0  # all right ankles miss
    summary = evaluate_metric(
        "pckh", predictions, from_arrays(joints, annotated, normalizer)
    )
    assert np.isnan(summary.per_joint["l_ankle"])
    assert summary.groups["Ankle"] == 0.0  # the mean of the known side only
    assert summary.groups["Mean"] == pytest.approx(100.0 * 12 / 13)


def test_groups_average_left_and_right_and_head_is_head_top_only():
    joints, annotated, normalizer = mpii_people(2)
    predictions = joints.copy()
    predictions[0, L_SHOULDER] += 100.0  # left shoulder 50 %, right 100 %
    predictions[:, UPPER_NECK] += 100.0  # neck 0 %: must not move Head
    summary = evaluate_metric(
        "pckh", predictions, from_arrays(joints, annotated, normalizer)
    )
    assert summary.groups["Shoulder"] == 75.0
    assert summary.groups["Head"] == 100.0
    assert summary.groups["Elbow"] == 100.0


def test_weighted_and_unweighted_means_differ_and_pelvis_thorax_excluded():
    joints, annotated, normalizer = mpii_people(4)
    annotated[1:, [R_ANKLE, L_ANKLE]] = False  # ankles annotated once each
    predictions = joints.copy()
    predictions[0, [R_ANKLE, L_ANKLE]] += 100.0  # ... and both missed
    predictions[:, [PELVIS, THORAX]] += 100.0  # not in the paper Mean
    summary = evaluate_metric(
        "pckh", predictions, from_arrays(joints, annotated, normalizer)
    )
    assert summary.groups["Mean"] == pytest.approx(12 * 100.0 / 14)
    assert summary.total_count_weighted == pytest.approx(12 * 4 * 100.0 / (12 * 4 + 2))
    assert summary.mean_all_joints == pytest.approx(12 * 100.0 / 16)


def test_pckh_curve_rises_to_pckh_and_auc_is_normalised():
    joints, annotated, normalizer = mpii_people(5, normalizer=10.0)
    offsets = np.linspace(0.0, 6.0, 5)[:, None]  # 0, 0.15, 0.3, 0.45, 0.6
    predictions = joints.copy()
    predictions[..., 0] += offsets
    ground_truth = from_arrays(joints, annotated, normalizer)
    _, curve = accuracy_curve("pckh", predictions, ground_truth)
    assert curve.shape == (51, 16)
    assert np.all(np.diff(curve, axis=0) >= 0)
    assert curve[0, 0] == 0.0  # nothing is strictly below 0
    np.testing.assert_array_equal(
        curve[-1], accuracy("pckh", predictions, ground_truth, 0.5)
    )
    assert curve[-1, 0] == 80.0


def test_pck_uses_left_shoulder_to_right_hip_in_both_joint_orders():
    for joint_set in (MPII_16, LSP_14):
        shoulder, hip = joint_set.torso_joints
        assert joint_set.joint_names[shoulder] == "l_shoulder"
        assert joint_set.joint_names[hip] == "r_hip"
        joints = np.zeros((1, joint_set.num_joints, 2))
        joints[0, hip] = (0.0, 100.0)  # torso 100
        predictions = joints.copy()
        predictions[0, :, 0] += 15.0
        ground_truth = from_arrays(joints, np.ones((1, joint_set.num_joints), bool))
        assert np.all(accuracy("pck", predictions, ground_truth, 0.2) == 100.0)
        assert np.all(accuracy("pck", predictions, ground_truth, 0.1) == 0.0)


def test_pck_skips_people_without_torso_with_a_logged_count(caplog):
    joints = np.zeros((2, 14, 2))
    joints[:, LSP_14.torso_joints[1]] = (0.0, 100.0)
    annotated = np.ones((2, 14), bool)
    annotated[1, LSP_14.torso_joints[0]] = False
    predictions = joints.copy()
    predictions[1] += 1e4  # the skipped person would miss everything
    with caplog.at_level(logging.WARNING):
        summary = evaluate_metric(
            "pck", predictions, from_arrays(joints, annotated), 0.2
        )
    assert summary.groups["Mean"] == 100.0
    assert summary.joint_counts["neck"] == 1
    assert "skipped 1 of 2 people" in caplog.text


def test_bad_predictions_raise_clear_errors():
    joints, annotated, normalizer = mpii_people(2)
    ground_truth = from_arrays(joints, annotated, normalizer)
    with pytest.raises(EvaluationInputError, match="not N x 16 x 2"):
        accuracy("pckh", joints[:, :14], ground_truth)
    with pytest.raises(EvaluationInputError, match="1 people, but"):
        accuracy("pckh", joints[:1], ground_truth)
    broken = joints.copy()
    broken[1, 3, 0] = np.nan
    with pytest.raises(EvaluationInputError, match="person 1 joint 3 is NaN"):
        accuracy("pckh", broken, ground_truth)


def test_pckh_without_head_boxes_names_the_people():
    joints, annotated, _ = mpii_people(2)
    ground_truth = from_arrays(joints, annotated, [5.0, np.nan], source="gt.json")
    with pytest.raises(EvaluationInputError, match="gt.json: 1 people have no head"):
        accuracy("pckh", joints, ground_truth)


# Tompson et al. CVPR'15 on the MPII validation split, as printed by the
# standard script (bearpaw/pytorch-pose evaluation/eval_PCKh.py, which loads
# these same arrays). NOTE: the oft-quoted 96.1 / 91.9 / 83.9 / 77.8 / 80.9 /
# 72.3 / 64.8 / 82.0 are Tompson's MPII *test*-set numbers (MPII leaderboard);
# they are not reproducible from validation predictions.
TOMPSON_VALIDATION_PCKH = {
    "Head": 95.60,
    "Shoulder": 92.71,
    "Elbow": 83.36,
    "Wrist": 76.74,
    "Hip": 81.93,
    "Knee": 73.36,
    "Ankle": 65.45,
    "Mean": 81.46,
}


def test_tompson_validation_predictions_reproduce_the_standard_table(shared_data):
    path = shared_data / "mpii_valid_gt" / "detections_our_format.mat"
    ground_truth = read_mpii_validation_mat(path)
    predictions = scipy.io.loadmat(path)["pos_pred_src"].transpose(2, 0, 1)
    summary = evaluate_metric("pckh", predictions, ground_truth)
    for column, expected in TOMPSON_VALIDATION_PCKH.items():
        assert summary.groups[column] == pytest.approx(expected, abs=0.05), column
    # HRNet / mmpose "Mean" (count-weighted) and the 16-joint mean.
    assert summary.total_count_weighted == pytest.approx(82.34, abs=0.05)
    assert summary.mean_all_joints == pytest.approx(71.28, abs=0.05)


def test_box_pck_divides_by_the_larger_box_side_with_a_strict_hit():
    # Person 0: box side 200 px, threshold 0.05 -> hits closer than 10 px.
    # Person 1: side 40 px -> closer than 2 px.
    joints = np.zeros((2, 3, 2))
    ground_truth = from_arrays(
        joints, np.ones((2, 3), bool), joint_names=("a", "b", "c"),
        person_sizes=[200.0, 40.0],
    )  # fmt: skip
    offsets = np.array([
        [[9.9, 0], [10.0, 0], [6, 8]],  # 9.9 px hit, 10 px miss, 10 px miss
        [[1.0, 1.0], [0, 2.0], [0, 0]],  # 1.41 px hit, 2 px miss, 0 px hit
    ])  # fmt: skip
    values = accuracy("box-pck", joints + offsets, ground_truth, 0.05)
    np.testing.assert_allclose(values, [100.0, 0.0, 50.0])
    summary = evaluate_metric("box-pck", joints + offsets, ground_truth, 0.05)
    assert summary.metric == "box PCK" and summary.groups["Mean"] == pytest.approx(50.0)
    # At 0.1, person 1's 2 px errors are hits and person 0's 10 px ones too.
    np.testing.assert_allclose(
        accuracy("box-pck", joints + offsets, ground_truth, 0.1), 100.0
    )


def test_box_pck_skips_people_without_a_box_and_needs_box_sizes(caplog):
    joints = np.zeros((2, 1, 2))
    annotated = np.ones((2, 1), bool)
    ground_truth = from_arrays(joints, annotated, person_sizes=[100, np.nan])
    with caplog.at_level(logging.WARNING):
        values = accuracy("box-pck", joints + [[[1.0, 0]], [[99.0, 0]]], ground_truth)
    np.testing.assert_allclose(values, [100.0])
    assert "skipped 1 of 2 people without a person box" in caplog.text
    with pytest.raises(EvaluationInputError, match="box size"):
        accuracy("box-pck", joints, from_arrays(joints, annotated))


def test_a_joint_set_without_a_torso_has_no_torso_pck_and_names_the_flag():
    ground_truth = from_arrays(
        np.zeros((1, 2, 2)), np.ones((1, 2), bool), joint_names=("head", "tail")
    )
    with pytest.raises(EvaluationInputError, match="l_shoulder and r_hip") as raised:
        accuracy("pck", np.zeros((1, 2, 2)), ground_truth)
    assert "--metric box-pck" in str(raised.value)
    assert "torso_joints" not in str(raised.value)
    # Named joints give the torso of any set.
    named = from_arrays(np.array([[[0, 0], [0, 10.0], [5, 5]]]), np.ones((1, 3), bool),
                        joint_names=("l_shoulder", "r_hip", "nose"))  # fmt: skip
    np.testing.assert_allclose(accuracy("pck", named.joints + [2.0, 0], named), 100.0)


def test_people_without_torso_are_reported_once_per_evaluation(caplog):
    from evaluation.metrics import evaluate_metric as score

    joints = np.zeros((2, 14, 2))
    joints[:, LSP_14.torso_joints[1]] = (0.0, 100.0)
    annotated = np.ones((2, 14), bool)
    annotated[1, LSP_14.torso_joints[0]] = False
    ground_truth = from_arrays(joints, annotated)
    with caplog.at_level(logging.WARNING):
        # What evaluate does: a table per stack (the last one reports), then
        # the curve of the last stack.
        score("pck", joints + 1, ground_truth, 0.2, report_skipped=False)
        score("pck", joints, ground_truth, 0.2)
        thresholds, curve = accuracy_curve("pck", joints, ground_truth)
    assert curve.shape == (len(thresholds), 14)
    assert caplog.text.count("skipped 1 of 2 people") == 1, caplog.text
