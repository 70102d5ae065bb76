"""Keypoint sets: joint names, left/right flip pairs, skeleton edges and the
paper-table metric groups. Built-in: MPII-16, LSP-14 and COCO-17 in their
datasets' joint order; `custom_joint_set` makes others.

Sources for the metric columns (checked against the scripts themselves):

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


@dataclass(frozen=True)
class JointSet:
    """A named keypoint set: joint names in stored order, (left, right) flip
    pairs, skeleton edges, paper-table columns (`metric_groups`: column, joints
    averaged), the joints of the paper-style Mean (default all) and the (left
    shoulder, right hip) of torso-normalised PCK (None: no torso)."""

    name: str
    joint_names: tuple
    flip_pairs: tuple
    skeleton: tuple
    metric_groups: tuple = ()
    mean_joints: tuple | None = None
    torso_joints: tuple | None = None

    def __post_init__(self):
        if self.mean_joints is None:
            object.__setattr__(self, "mean_joints", tuple(range(self.num_joints)))

    @property
    def num_joints(self):
        """The number of joints K."""
        return len(self.joint_names)


MPII_16 = JointSet(
    name="mpii",
    joint_names=(
        "r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle", "pelvis",
        "thorax", "upper_neck", "head_top", "r_wrist", "r_elbow", "r_shoulder",
        "l_shoulder", "l_elbow", "l_wrist",
    ),  # fmt: skip
    flip_pairs=((5, 0), (4, 1), (3, 2), (13, 12), (14, 11), (15, 10)),
    skeleton=(
        (0, 1), (1, 2), (2, 6), (6, 3), (3, 4), (4, 5), (6, 7), (7, 8), (8, 9),
        (7, 12), (12, 11), (11, 10), (7, 13), (13, 14), (14, 15),
    ),  # fmt: skip
    metric_groups=(
        ("Head", (9,)), ("Shoulder", (12, 13)), ("Elbow", (11, 14)),
        ("Wrist", (10, 15)), ("Hip", (2, 3)), ("Knee", (1, 4)), ("Ankle", (0, 5)),
    ),  # fmt: skip
    # Pelvis and thorax are left out, as `PCKh.mask[6:8] = True` does.
    mean_joints=(0, 1, 2, 3, 4, 5, 8, 9, 10, 11, 12, 13, 14, 15),
    torso_joints=(13, 2),
)

LSP_14 = JointSet(
    name="lsp",
    joint_names=(
        "r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle", "r_wrist",
        "r_elbow", "r_shoulder", "l_shoulder", "l_elbow", "l_wrist", "neck",
        "head_top",
    ),  # fmt: skip
    flip_pairs=((5, 0), (4, 1), (3, 2), (11, 6), (10, 7), (9, 8)),
    skeleton=(
        (0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (2, 8), (3, 9), (6, 7), (7, 8),
        (8, 12), (9, 12), (9, 10), (10, 11), (12, 13),
    ),  # fmt: skip
    metric_groups=(
        ("Head", (12, 13)), ("Shoulder", (8, 9)), ("Elbow", (7, 10)),
        ("Wrist", (6, 11)), ("Hip", (2, 3)), ("Knee", (1, 4)), ("Ankle", (0, 5)),
    ),  # fmt: skip
    torso_joints=(9, 2),
)

COCO_17 = JointSet(
    name="coco",
    joint_names=(
        "nose", "l_eye", "r_eye", "l_ear", "r_ear", "l_shoulder", "r_shoulder",
        "l_elbow", "r_elbow", "l_wrist", "r_wrist", "l_hip", "r_hip", "l_knee",
        "r_knee", "l_ankle", "r_ankle",
    ),  # fmt: skip
    flip_pairs=((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)),
    # The COCO annotation file's `skeleton`, converted from 1-based indices.
    skeleton=(
        (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6),
        (5, 7), (6, 8), (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4),
        (3, 5), (4, 6),
    ),  # fmt: skip
    torso_joints=(5, 12),
)

BUILT_IN_JOINT_SETS = {"mpii": MPII_16, "lsp": LSP_14, "coco": COCO_17}


def builtin_joint_set(num_joints):
    """The built-in joint set with `num_joints` joints, else ValueError."""
    for joint_set in BUILT_IN_JOINT_SETS.values():
        if joint_set.num_joints == num_joints:
            return joint_set
    raise ValueError(
        f"no built-in joint set has {num_joints} joints; pass joint_set= explicitly"
    )


def metric_joint_set(num_joints):
    """The set the metrics name and group `num_joints` joints by: MPII for 16,
    LSP for 14, else numbered `joint_<i>` joints (no paper columns)."""
    return numbered_joint_set(num_joints, (MPII_16, LSP_14), "joint_", "generic")


def joint_set_record(joint_set):
    """The JSON entries of a joint set, as a sidecar and an export store them."""
    return {
        "joint_set": joint_set.name,
        "joint_names": list(joint_set.joint_names),
        "flip_pairs": [list(pair) for pair in joint_set.flip_pairs],
        "skeleton": [list(edge) for edge in joint_set.skeleton],
    }


def joint_set_from_metadata(entries, name=None):
    """A JointSet from a `dataset.json`-style dict."""
    joint_names = tuple(entries["joint_names"])
    # A `dataset.json` records its torso (null: none); older ones name it.
    torso_joints = entries.get("torso_joints", infer_torso_joints(joint_names))
    return JointSet(
        name=str(name or entries.get("name") or "custom"),
        joint_names=joint_names,
        flip_pairs=tuple(tuple(pair) for pair in entries.get("flip_pairs", [])),
        skeleton=tuple(tuple(edge) for edge in entries.get("skeleton", [])),
        torso_joints=None if torso_joints is None else tuple(torso_joints),
    )


def joint_set_from_record(record):
    """The `JointSet` a `joint_set_record` holds (None without one): the
    built-in set, with its metric groups, when the record matches one."""
    if "joint_names" not in record:
        return None
    joint_set = joint_set_from_metadata(record, record.get("joint_set") or "custom")
    built_in = BUILT_IN_JOINT_SETS.get(joint_set.name)
    if built_in is not None and built_in.joint_names == joint_set.joint_names:
        return built_in
    return joint_set


_SIDE_PREFIXES = (("l_", "r_"), ("left_", "right_"))
_TORSO_NAMES = (("l_shoulder", "r_hip"), ("left_shoulder", "right_hip"))


def infer_torso_joints(joint_names):
    """The (left shoulder, right hip) indices by `_TORSO_NAMES`, or None."""
    index_of = {name.lower(): index for index, name in enumerate(joint_names)}
    for shoulder, hip in _TORSO_NAMES:
        if shoulder in index_of and hip in index_of:
            return index_of[shoulder], index_of[hip]
    return None


def infer_flip_pairs(joint_names):
    """(left, right) index pairs matched by `l_`/`r_` or `left_`/`right_`
    name prefixes (case-insensitive)."""
    lowered = [name.lower() for name in joint_names]
    index_of = {name: index for index, name in enumerate(lowered)}
    pairs = []
    for left_index, name in enumerate(lowered):
        for left_prefix, right_prefix in _SIDE_PREFIXES:
            if name.startswith(left_prefix):
                partner = right_prefix + name[len(left_prefix) :]
                if partner in index_of:
                    pairs.append((left_index, index_of[partner]))
    return tuple(pairs)


def parse_index_pairs(text, joint_names, what="pair"):
    """Index pairs of `"a:b,c:d"` (joint names or indices)."""
    index_of = {name: index for index, name in enumerate(joint_names)}
    pairs = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        ends = item.split(":")
        if len(ends) != 2:
            raise ValueError(f"{what} {item!r} must look like 'name_a:name_b'")
        pairs.append(tuple(_joint_index(end.strip(), index_of, what) for end in ends))
    return tuple(pairs)


def _joint_index(token, index_of, what):
    if token in index_of:
        return index_of[token]
    if token.isdigit() and int(token) < len(index_of):
        return int(token)
    raise ValueError(
        f"{what}: unknown joint {token!r}; known joints: {', '.join(index_of)}"
    )


def custom_joint_set(name, joint_names, flip_pairs_text=None, skeleton_text=None):
    """A JointSet of custom joints, flipped by `flip_pairs_text` or else by
    their name prefixes; with a torso when it names one (`_TORSO_NAMES`)."""
    joint_names = tuple(joint_names)
    if not joint_names:
        raise ValueError(f"keypoint set {name!r} has no joints")
    duplicates = sorted({n for n in joint_names if joint_names.count(n) > 1})
    if duplicates:
        raise ValueError(f"keypoint set {name!r} repeats joints {duplicates}")
    if flip_pairs_text:
        flip_pairs = parse_index_pairs(flip_pairs_text, joint_names, "flip pair")
    else:
        flip_pairs = infer_flip_pairs(joint_names)
    paired = [index for pair in flip_pairs for index in pair]
    if len(paired) != len(set(paired)):
        raise ValueError(f"keypoint set {name!r}: a joint is in two flip pairs")
    skeleton = ()
    if skeleton_text:
        skeleton = parse_index_pairs(skeleton_text, joint_names, "skeleton edge")
    return JointSet(
        name, joint_names, flip_pairs, skeleton,
        torso_joints=infer_torso_joints(joint_names),
    )  # fmt: skip


def joint_names_from_columns(columns, reserved=("center", "bbox")):
    """Joint names of CSV columns `<joint>_x` and `<joint>_y`, in `_x` order."""
    columns = [str(column) for column in columns]
    x_names = [c[:-2] for c in columns if c.endswith("_x") and len(c) > 2]
    y_names = {c[:-2] for c in columns if c.endswith("_y") and len(c) > 2}
    x_names = [name for name in x_names if name not in reserved]
    y_names = y_names - set(reserved)
    lonely = sorted(set(x_names) ^ y_names)
    if lonely:
        raise ValueError(
            f"joint columns need both <joint>_x and <joint>_y; incomplete: {lonely}"
        )
    return tuple(x_names)


def numbered_joint_set(
    num_joints, built_ins=(MPII_16, LSP_14, COCO_17), prefix="joint", name="custom"
):
    """The set of `built_ins` with `num_joints` joints, else numbered ones."""
    for joint_set in built_ins:
        if joint_set.num_joints == num_joints:
            return joint_set
    names = tuple(f"{prefix}{index}" for index in range(num_joints))
    return JointSet(name, names, (), ())
