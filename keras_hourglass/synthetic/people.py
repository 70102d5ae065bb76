"""A built-in synthetic people dataset, for training without downloading data.

Each sample is one annotated figure (16 MPII joints) on a cluttered background,
with distractor figures, occluders and sometimes joints cut off by the border;
it depends only on `(seed, index)`, so shards render in parallel and reproduce
exactly. Annotations follow MPII's conventions (`center` like `objpos`, a head
box whose 0.6 x diagonal is the PCKh normaliser).
"""

import numpy as np

from keras_hourglass.data.formats.mpii import HEAD_BOX_DIAGONAL_FRACTION
from keras_hourglass.predictor import inside_image
from keras_hourglass.synthetic import pose
from keras_hourglass.synthetic import render
from keras_hourglass.synthetic.scene import compose_scene
from keras_hourglass.transforms import PIXELS_PER_SCALE
from keras_hourglass.transforms import person_center_for_crop

# Difficulty knobs, `generate_person_image`'s keyword arguments. The defaults
# make a dataset the README's main command learns in minutes on a CPU: warm left
# limbs and no back views (where the sides swap) spare a small network the
# left/right problem; turn them on for a harder one.
DEFAULT_DIFFICULTY = {
    "image_size_range": (240, 480),  # min and max side in px, drawn per side
    "person_height_range": (0.45, 0.9),  # standing height / shorter image side
    "max_rotation_degrees": 30.0,  # in-plane rotation drawn in +/- this
    "back_view_probability": 0.0,  # seen from behind: no face, sides swap
    "foreshortening": 0.15,  # limbs drawn at 1 - this .. 1 of full length
    "truncation_probability": 0.15,  # person pushed partly out of the image
    "occlusion_probability": 0.3,  # one or two occluders over the person
    "max_distractors": 2,  # other, smaller figures behind the person
    "max_clutter_shapes": 12,  # background shapes (boxes, ellipses, sticks)
    "noise_std": 4.0,  # per-pixel Gaussian noise, grey levels
    "random_side_colours": False,  # False: left limbs always the warm colours
}
# Head box around the head bone (length L): 0.05 L below the neck to 0.1 L above
# the top, 0.9 L wide, so the PCKh normaliser is about 0.125 x 200 x scale (MPII).
HEAD_BOX_BELOW, HEAD_BOX_ABOVE, HEAD_BOX_WIDTH = 0.05, 0.1, 0.9

# Part labels a joint may show and still count as visible (not occluded).
JOINT_PARTS = (
    {render.R_SHIN, render.R_FOOT}, {render.R_THIGH, render.R_SHIN},
    {render.R_THIGH, render.TORSO}, {render.L_THIGH, render.TORSO},
    {render.L_THIGH, render.L_SHIN}, {render.L_SHIN, render.L_FOOT},
    {render.TORSO, render.R_THIGH, render.L_THIGH}, {render.TORSO, render.NECK},
    {render.NECK, render.HEAD}, {render.HEAD},
    {render.R_FOREARM, render.R_HAND}, {render.R_UPPER_ARM, render.R_FOREARM},
    {render.R_UPPER_ARM, render.TORSO}, {render.L_UPPER_ARM, render.TORSO},
    {render.L_UPPER_ARM, render.L_FOREARM}, {render.L_FOREARM, render.L_HAND},
)  # fmt: skip


def joints_visible_on_labels(joints, inside, labels):
    """Int [16]: 1 where an in-image joint's pixel shows one of its own parts."""
    visible = np.zeros(len(joints), dtype=np.int64)
    for joint in np.flatnonzero(inside):
        col, row = np.rint(joints[joint]).astype(np.int64)
        visible[joint] = int(labels[row, col] in JOINT_PARTS[joint])
    return visible


def head_box_around(upper_neck, head_top):
    """Axis-aligned head box (x1, y1, x2, y2) around the head bone."""
    length = max(float(np.linalg.norm(head_top - upper_neck)), 1e-6)
    up = (head_top - upper_neck) / length
    across = np.array([-up[1], up[0]]) * HEAD_BOX_WIDTH * length / 2
    bottom = upper_neck - HEAD_BOX_BELOW * length * up
    top = head_top + HEAD_BOX_ABOVE * length * up
    corners = np.stack([bottom + across, bottom - across, top + across, top - across])
    return np.concatenate([corners.min(axis=0), corners.max(axis=0)])


def build_annotation(seed, index, scene, labels):
    """The MPII-style annotation of a scene, plus `other_people_joints`
    ([16, 3]: x, y, in-image flag) and `render` (internals, for tests)."""
    height, width = labels.shape
    joints_all = scene["joints"]
    inside = inside_image(joints_all, height, width)
    head_box = head_box_around(joints_all[pose.UPPER_NECK], joints_all[pose.HEAD_TOP])
    scale = scene["height_px"] / PIXELS_PER_SCALE
    body_middle = (joints_all.min(axis=0) + joints_all.max(axis=0)) / 2
    head_box_sides = head_box[2:] - head_box[:2]
    return {
        "image_id": f"synthetic-{seed}-{index:08d}",
        "width": width,
        "height": height,
        "joints": np.where(inside[:, None], joints_all, 0.0),
        "joints_annotated": inside.astype(np.int64),
        "joints_visible": joints_visible_on_labels(joints_all, inside, labels),
        "center": person_center_for_crop(body_middle, scale),
        "scale": scale,
        "head_box": head_box,
        "normalizer": HEAD_BOX_DIAGONAL_FRACTION * float(np.hypot(*head_box_sides)),
        "other_people_joints": scene["other_people_joints"],
        "render": scene["render"],
    }


def generate_person_image(seed: int, index: int, **difficulty):
    """Returns sample `index` of dataset `seed` (both >= 0) with
    `DEFAULT_DIFFICULTY` overridden by `**difficulty`: a uint8 [H, W, 3] image
    and its annotation dict (`build_annotation`)."""
    unknown = sorted(set(difficulty) - set(DEFAULT_DIFFICULTY))
    if unknown:
        raise ValueError(
            f"unknown synthetic difficulty option(s) {unknown}; "
            f"known: {sorted(DEFAULT_DIFFICULTY)}"
        )
    if int(seed) < 0 or int(index) < 0:
        raise ValueError(f"seed and index must be >= 0, got seed={seed}, index={index}")
    # The sample's generator is a pure function of (seed, index).
    rng = np.random.default_rng([int(seed), int(index)])
    canvas, labels, scene = compose_scene(rng, {**DEFAULT_DIFFICULTY, **difficulty})
    # Adding 0.5 then truncating (the unsafe cast) rounds to nearest.
    canvas += 0.5
    image = np.empty(canvas.shape, dtype=np.uint8)
    np.clip(canvas, 0, 255, out=image, casting="unsafe")
    return image, build_annotation(seed, index, scene, labels)


def iterate_synthetic(seed, count, start=0, **difficulty):
    """Yields `generate_person_image(seed, i, **difficulty)` for the `count`
    indices from `start`."""
    for index in range(start, start + count):
        yield generate_person_image(seed, index, **difficulty)
