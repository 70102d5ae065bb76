"""Joint orders, paper-table column groups and torso joints for MPII and LSP.

Sources for the column definitions (checked against the scripts themselves):

- MPII PCKh: Tompson et al.'s evaluation as shipped in bearpaw/pytorch-pose
  `evaluation/eval_PCKh.py` and `eval_PCKh.m`. Head is the head-top joint
  only (`dataset_joints == 'head'`, index 9), never averaged with the upper
  neck; Shoulder ... Ankle are the unweighted mean of the left and right
  joints; Mean is the unweighted mean of the 14 joints left after masking
  pelvis (6) and thorax (7).
- LSP PCK: bearpaw/eval_pose `eval_pck.m` (Sapp & Taskar's PCK). Its "Head"
  column averages the symmetric pair neck (12) and head-top (13); its torso
  is ||left shoulder - right hip||; every joint enters the mean.
"""

from dataclasses import dataclass

from keras_hourglass.joint_sets import LSP_14
from keras_hourglass.joint_sets import MPII_16

# The names come from the library so training and evaluation cannot disagree.
MPII_JOINT_NAMES = MPII_16.joint_names
LSP_JOINT_NAMES = LSP_14.joint_names

PAPER_COLUMNS = ("Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle")


@dataclass(frozen=True)
class JointSet:
    """A joint order with the paper-table groups defined on it.

    Attributes:
        name: str. Short name of the joint order (`mpii`, `lsp`, `generic`).
        joint_names: tuple of str. One name per joint, in dataset order.
        groups: tuple of (column, joint indices) pairs. Each column is the
            unweighted mean of the per-joint values of its joints.
        mean_joints: tuple of int. Joints that enter the paper-style Mean.
        torso_joints: (left shoulder, right hip) indices for torso-normalised
            PCK, or None when the order has no torso.
    """

    name: str
    joint_names: tuple
    groups: tuple
    mean_joints: tuple
    torso_joints: tuple | None

    @property
    def num_joints(self):
        return len(self.joint_names)


MPII = JointSet(
    name="mpii",
    joint_names=MPII_JOINT_NAMES,
    groups=(
        ("Head", (9,)),
        ("Shoulder", (12, 13)),
        ("Elbow", (11, 14)),
        ("Wrist", (10, 15)),
        ("Hip", (2, 3)),
        ("Knee", (1, 4)),
        ("Ankle", (0, 5)),
    ),
    # Pelvis and thorax are left out, as `PCKh.mask[6:8] = True` does.
    mean_joints=(0, 1, 2, 3, 4, 5, 8, 9, 10, 11, 12, 13, 14, 15),
    torso_joints=(13, 2),
)

LSP = JointSet(
    name="lsp",
    joint_names=LSP_JOINT_NAMES,
    groups=(
        ("Head", (12, 13)),
        ("Shoulder", (8, 9)),
        ("Elbow", (7, 10)),
        ("Wrist", (6, 11)),
        ("Hip", (2, 3)),
        ("Knee", (1, 4)),
        ("Ankle", (0, 5)),
    ),
    mean_joints=tuple(range(14)),
    torso_joints=(9, 2),
)


def generic_joint_set(num_joints):
    """A joint set with numbered names, no paper groups and no torso."""
    return JointSet(
        name="generic",
        joint_names=tuple(f"joint_{index}" for index in range(num_joints)),
        groups=(),
        mean_joints=tuple(range(num_joints)),
        torso_joints=None,
    )


def joint_set_for_count(num_joints):
    """The MPII set for 16 joints, the LSP set for 14, else a generic set."""
    if num_joints == MPII.num_joints:
        return MPII
    if num_joints == LSP.num_joints:
        return LSP
    return generic_joint_set(num_joints)
