"""Tests for keras_hourglass.joint_sets."""

import pytest

from keras_hourglass.joint_sets import COCO_17
from keras_hourglass.joint_sets import LSP_14
from keras_hourglass.joint_sets import MPII_16
from keras_hourglass.joint_sets import builtin_joint_set
from keras_hourglass.joint_sets import custom_joint_set
from keras_hourglass.joint_sets import infer_flip_pairs
from keras_hourglass.joint_sets import infer_torso_joints
from keras_hourglass.joint_sets import joint_names_from_columns
from keras_hourglass.joint_sets import metric_joint_set


@pytest.mark.parametrize("joint_set", [MPII_16, LSP_14, COCO_17])
def test_built_in_sets_are_consistent(joint_set):
    assert joint_set.num_joints == {"mpii": 16, "lsp": 14, "coco": 17}[joint_set.name]
    for left, right in joint_set.flip_pairs:
        assert joint_set.joint_names[left].startswith("l_")
        assert joint_set.joint_names[right] == "r_" + joint_set.joint_names[left][2:]
    # Every l_/r_ joint is paired, and inference from names gives the same pairs.
    assert set(infer_flip_pairs(joint_set.joint_names)) == set(joint_set.flip_pairs)
    for a, b in joint_set.skeleton:
        assert 0 <= a < joint_set.num_joints and 0 <= b < joint_set.num_joints


def test_mpii_order_matches_project_convention():
    assert MPII_16.joint_names[0] == "r_ankle" and MPII_16.joint_names[9] == "head_top"
    assert LSP_14.joint_names[12:] == ("neck", "head_top")


def test_flip_pairs_inferred_from_left_right_prefixes():
    names = ["nose", "left_eye", "right_eye", "L_paw", "R_paw", "tail"]
    assert infer_flip_pairs(names) == ((1, 2), (3, 4))


def test_custom_set_with_explicit_pairs_and_errors():
    names = ["nose", "paw_a", "paw_b"]
    joint_set = custom_joint_set("cat", names, "paw_a:paw_b", "0:1")
    assert joint_set.flip_pairs == ((1, 2),) and joint_set.skeleton == ((0, 1),)
    with pytest.raises(ValueError, match="unknown joint 'tail'"):
        custom_joint_set("cat", ["nose", "paw"], "paw:tail")
    with pytest.raises(ValueError, match="repeats"):
        custom_joint_set("cat", ["nose", "nose"])
    with pytest.raises(ValueError, match="two flip pairs"):
        custom_joint_set("cat", ["a", "b", "c"], "a:b,a:c")


def test_joint_names_from_columns_ignores_centre_and_box():
    columns = ["image", "l_eye_x", "l_eye_y", "r_eye_x", "r_eye_y", "r_eye_visible",
               "center_x", "center_y", "scale", "bbox_x", "bbox_y"]  # fmt: skip
    assert joint_names_from_columns(columns) == ("l_eye", "r_eye")
    with pytest.raises(ValueError, match="nose"):
        joint_names_from_columns(["image", "nose_x"])


def test_metric_groups_pair_left_with_right_and_skip_pelvis_thorax_in_mpii():
    for joint_set in (MPII_16, LSP_14):
        names = joint_set.joint_names
        assert [column for column, _ in joint_set.metric_groups][:2] == [
            "Head", "Shoulder",
        ]  # fmt: skip
        for column, joints in joint_set.metric_groups[1:]:
            sides = sorted(names[joint][:2] for joint in joints)
            assert sides == ["l_", "r_"], column
    assert 6 not in MPII_16.mean_joints and 7 not in MPII_16.mean_joints
    assert LSP_14.mean_joints == tuple(range(14))
    assert COCO_17.metric_groups == () and COCO_17.torso_joints == (5, 12)


def test_metric_joint_set_falls_back_to_numbered_joints():
    assert metric_joint_set(16) is MPII_16 and metric_joint_set(14) is LSP_14
    generic = metric_joint_set(5)
    assert generic.joint_names[4] == "joint_4" and generic.metric_groups == ()
    assert generic.mean_joints == (0, 1, 2, 3, 4)
    assert builtin_joint_set(17) is COCO_17
    with pytest.raises(ValueError, match="no built-in joint set has 5"):
        builtin_joint_set(5)


def test_torso_is_the_left_shoulder_and_right_hip_found_by_name():
    for joint_set in (MPII_16, LSP_14, COCO_17):
        assert infer_torso_joints(joint_set.joint_names) == joint_set.torso_joints
    assert infer_torso_joints(["Left_Shoulder", "nose", "RIGHT_HIP"]) == (0, 2)
    assert infer_torso_joints(["l_shoulder", "l_hip", "r_shoulder"]) is None
    assert custom_joint_set("paws", ["r_hip", "l_shoulder"]).torso_joints == (1, 0)
    assert custom_joint_set("paws", ["head", "tail"]).torso_joints is None
