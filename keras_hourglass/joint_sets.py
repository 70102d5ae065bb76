"""Keypoint sets: joint names, left/right flip pairs and skeleton edges.

Built-in sets are MPII-16, LSP-14 and COCO-17 in their datasets' joint order.
Custom sets (for example from a CSV's column names) are made with
`custom_joint_set`, which infers flip pairs from `l_`/`r_` (or `left_`/`right_`)
name prefixes unless pairs are given as text such as `"l_wrist:r_wrist,..."`.

Flip pairs are `(left_index, right_index)`; skeleton edges are index pairs.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class JointSet:
    """A named keypoint set.

    Args:
        name: str. Short name written into the dataset metadata.
        joint_names: tuple of str. Names in the order the joints are stored.
        flip_pairs: tuple of (int, int). (left, right) joint indices swapped by a
            horizontal flip.
        skeleton: tuple of (int, int). Joint index pairs drawn as limbs.
    """

    name: str
    joint_names: tuple
    flip_pairs: tuple
    skeleton: tuple

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
)

BUILT_IN_JOINT_SETS = {"mpii": MPII_16, "lsp": LSP_14, "coco": COCO_17}

_SIDE_PREFIXES = (("l_", "r_"), ("left_", "right_"))


def infer_flip_pairs(joint_names):
    """Returns (left, right) index pairs matched by `l_`/`r_` or `left_`/`right_`
    name prefixes (case-insensitive); names without a partner are unpaired."""
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
    """Parses `"a:b,c:d"` (joint names or indices) into index pairs.

    Raises ValueError naming the unknown joint or the malformed item.
    """
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
    """Returns a JointSet for a custom keypoint list.

    Flip pairs come from `flip_pairs_text` (`"l_wrist:r_wrist,..."`) when given,
    otherwise they are inferred from name prefixes. Raises ValueError for
    duplicate or empty names and for a joint in two flip pairs.
    """
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
    return JointSet(name, joint_names, flip_pairs, skeleton)


def joint_names_from_columns(columns, reserved=("center", "bbox")):
    """Returns joint names from CSV columns named `<joint>_x` and `<joint>_y`,
    in the order their `_x` columns appear (`reserved` prefixes such as
    `center_x` are not joints).

    Raises ValueError naming a joint that has only one of the two columns.
    """
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
