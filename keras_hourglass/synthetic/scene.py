"""Composes one synthetic scene: background, distractors, person, occluders.

All randomness comes from the one generator passed in, in a fixed order, so a
scene is a pure function of its seed.
"""

import numpy as np

from keras_hourglass.predictor import inside_image
from keras_hourglass.synthetic import pose
from keras_hourglass.synthetic import render
from keras_hourglass.synthetic.raster import ellipse_points
from keras_hourglass.synthetic.raster import limb_pixels
from keras_hourglass.synthetic.raster import paint
from keras_hourglass.synthetic.raster import polygon_pixels
from keras_hourglass.synthetic.raster import random_hsv_colour
from keras_hourglass.synthetic.raster import stripe_shade

# Hue, saturation and value ranges of background colours: any, including
# ones close to the figures' limb colours.
ANY_COLOUR = ((0, 360), (0.0, 1.0), (0.1, 1.0))
# A truncated person keeps at least this many joints inside the image.
MIN_JOINTS_INSIDE = 6
# Fixed unit Gaussian noise; each image adds a window at a random offset.
# Drawing fresh full-size noise per image would cost more than all drawing.
SENSOR_NOISE_TABLE = np.random.default_rng(20160322).standard_normal(
    (1024, 1024), dtype=np.float32
)
SENSOR_NOISE_TABLE.flags.writeable = False


def smooth_background(rng, height, width, cell_px, amplitude):
    """A linear colour gradient plus low-frequency colour noise, H x W x 3,
    made on a coarse grid and upsampled linearly (which keeps the gradient)."""
    grid_rows, grid_cols = height // cell_px + 2, width // cell_px + 2
    start = random_hsv_colour(rng, *ANY_COLOUR)
    end = random_hsv_colour(rng, *ANY_COLOUR)
    direction = pose.rotation_matrix(rng.uniform(0, 360)) @ np.array([1.0, 0.0])
    ramp = (
        np.linspace(0, 1, grid_rows)[:, None] * direction[1]
        + np.linspace(0, 1, grid_cols)[None, :] * direction[0]
    )
    ramp = (ramp - ramp.min()) / max(np.ptp(ramp), 1e-6)
    grid = start + ramp[:, :, None] * (end - start)
    grid += rng.normal(0.0, amplitude, size=grid.shape)
    along_rows = upsample_linearly(grid.astype(np.float32), width, axis=1)
    return upsample_linearly(along_rows, height, axis=0)


def upsample_linearly(grid, size, axis):
    """Linearly resamples axis 0 or 1 of an H x W x C grid to `size` samples,
    by gathers: a BLAS matrix product would start threads that spin on 2 cores."""
    positions = np.linspace(0.0, grid.shape[axis] - 1.0, size)
    lower = np.minimum(positions.astype(np.int64), grid.shape[axis] - 2)
    fraction = (positions - lower).astype(np.float32)
    fraction = fraction[:, None, None] if axis == 0 else fraction[None, :, None]
    low = np.take(grid, lower, axis=axis)
    result = np.take(grid, lower + 1, axis=axis)
    result -= low
    result *= fraction
    result += low
    return result


def random_shape_pixels(rng, center_xy, size_px, shape):
    """Pixels of a random rectangle, ellipse or stick of about `size_px`."""
    axis = pose.rotation_matrix(rng.uniform(0, 180)) @ np.array([1.0, 0.0])
    kind = rng.integers(3)
    if kind == 0:
        half_length, half_width = size_px * rng.uniform(0.3, 0.7, size=2)
        normal = np.array([-axis[1], axis[0]])
        corners = [
            center_xy + a * half_length * axis + b * half_width * normal
            for a, b in ((1, 1), (1, -1), (-1, -1), (-1, 1))
        ]
        return polygon_pixels(corners, shape)
    if kind == 1:
        half_length, half_width = size_px * rng.uniform(0.25, 0.6, size=2)
        return polygon_pixels(
            ellipse_points(center_xy, axis, half_length, half_width), shape
        )
    # Sticks look like limbs, so the network must use more than "a thick bar".
    half_length = size_px * rng.uniform(0.4, 0.8)
    width = size_px * rng.uniform(0.06, 0.15)
    start, end = center_xy - half_length * axis, center_xy + half_length * axis
    return limb_pixels(start, end, width, width, shape)[:2]


def paint_random_shape(canvas, rng, center_xy, size_px, labels=None):
    """Paints one random shape, plain or banded, and clears `labels` under it."""
    rows, cols = random_shape_pixels(
        rng, np.asarray(center_xy, float), size_px, canvas.shape[:2]
    )
    shade = None
    if rng.random() < 0.4:
        direction = pose.rotation_matrix(rng.uniform(0, 180)) @ np.array([1.0, 0.0])
        shade = stripe_shade(rows, cols, center_xy, direction, max(size_px * 0.12, 3.0))
    paint(canvas, labels, rows, cols, random_hsv_colour(rng, *ANY_COLOUR), 0, shade)


def render_background(rng, height, width, max_clutter_shapes):
    """A cluttered background: gradient, smooth colour noise and random shapes."""
    cell_px = int(rng.integers(8, 64))
    canvas = smooth_background(rng, height, width, cell_px, rng.uniform(5.0, 30.0))
    for _ in range(rng.integers(0, max_clutter_shapes + 1)):
        center = rng.uniform((0, 0), (width, height))
        size = rng.uniform(0.05, 0.4) * min(height, width)
        paint_random_shape(canvas, rng, center, size)
    return canvas


def add_sensor_noise(rng, canvas, noise_std):
    """Adds grey-level Gaussian noise of `noise_std` to every pixel, in place."""
    height, width = canvas.shape[:2]
    table_height, table_width = SENSOR_NOISE_TABLE.shape
    if height > table_height or width > table_width:
        noise = rng.standard_normal((height, width), dtype=np.float32)
    else:
        top = int(rng.integers(0, table_height - height + 1))
        left = int(rng.integers(0, table_width - width + 1))
        noise = SENSOR_NOISE_TABLE[top : top + height, left : left + width]
    canvas += (noise * np.float32(noise_std))[:, :, None]


def sample_figure(rng, options, height_px):
    """Random facing and pose (image pixels, relative to the body middle)."""
    facing_front = bool(rng.random() >= options["back_view_probability"])
    body = pose.sample_body_pose(rng, facing_front, options["foreshortening"])
    rotation = float(rng.uniform(-1, 1) * options["max_rotation_degrees"])
    joints = pose.body_to_image(body, height_px, rotation)
    joints -= (joints.min(axis=0) + joints.max(axis=0)) / 2
    return facing_front, joints


def place_person(rng, joints, width, height, truncate):
    """Image position of the body middle: whole person inside, or cut by an edge."""
    half_extent = (joints.max(axis=0) - joints.min(axis=0)) / 2
    low = half_extent - 0.5
    high = np.array([width, height]) - 0.5 - half_extent
    # A person larger than the image is centred; parts of it fall outside.
    position = np.where(
        low <= high,
        rng.uniform(np.minimum(low, high), np.maximum(low, high)),
        (np.array([width, height]) - 1) / 2,
    )
    if not truncate:
        return position
    axis = int(rng.integers(2))
    direction = 1.0 if rng.random() < 0.5 else -1.0
    overshoot = rng.uniform(0.1, 0.45) * 2 * half_extent[axis]
    # Push past the edge, then back off until enough joints stay in view.
    edge = (high if direction > 0 else low)[axis]
    for _ in range(6):
        moved = position.copy()
        moved[axis] = edge + direction * overshoot
        in_view = inside_image(joints + moved, height, width).sum()
        if in_view >= MIN_JOINTS_INSIDE:
            return moved
        overshoot /= 2
    return position


def draw_distractors(rng, canvas, options, main_middle, main_height_px):
    """Paints smaller figures away from the person; returns their joints [16, 3]."""
    height, width = canvas.shape[:2]
    others = []
    for _ in range(int(rng.integers(0, options["max_distractors"] + 1))):
        height_px = main_height_px * rng.uniform(0.35, 0.75)
        facing_front, joints = sample_figure(rng, options, height_px)
        middle = rng.uniform((0, 0), (width, height))
        for _ in range(10):
            if np.linalg.norm(middle - main_middle) > 0.4 * main_height_px:
                break
            middle = rng.uniform((0, 0), (width, height))
        joints = joints + middle
        palette = render.sample_palette(rng, options["random_side_colours"])
        render.draw_figure(canvas, joints, height_px, palette, facing_front, rng)
        inside = inside_image(joints, height, width)
        flagged = np.where(inside[:, None], joints, 0.0)
        others.append(np.concatenate([flagged, inside[:, None].astype(float)], axis=1))
    return others


def draw_occluders(rng, canvas, labels, options, joints, height_px):
    """With some probability paints one or two shapes over the person's joints."""
    if rng.random() >= options["occlusion_probability"]:
        return
    for _ in range(int(rng.integers(1, 3))):
        target = joints[rng.integers(len(joints))]
        center = target + rng.normal(0.0, 0.03 * height_px, size=2)
        size = rng.uniform(0.15, 0.3) * height_px
        paint_random_shape(canvas, rng, center, size, labels)


def compose_scene(rng, options):
    """Draws a full scene; returns the float canvas, part labels and {`joints`
    (drawn, also outside the image), `height_px`, `other_people_joints`, `render`}."""
    low, high = options["image_size_range"]
    width, height = (int(side) for side in rng.integers(low, high + 1, size=2))
    height_px = rng.uniform(*options["person_height_range"]) * min(width, height)
    facing_front, relative = sample_figure(rng, options, height_px)
    truncate = rng.random() < options["truncation_probability"]
    middle = place_person(rng, relative, width, height, truncate)
    joints = relative + middle
    canvas = render_background(rng, height, width, options["max_clutter_shapes"])
    others = draw_distractors(rng, canvas, options, middle, height_px)
    palette = render.sample_palette(rng, options["random_side_colours"])
    labels = np.zeros((height, width), dtype=np.int8)
    render.draw_figure(canvas, joints, height_px, palette, facing_front, rng, labels)
    draw_occluders(rng, canvas, labels, options, joints, height_px)
    if options["noise_std"] > 0:
        add_sensor_noise(rng, canvas, options["noise_std"])
    scene_render = {
        "joints_all": joints,
        "left_colour": palette["left"],
        "right_colour": palette["right"],
    }
    scene = {"joints": joints, "height_px": height_px, "other_people_joints": others}
    return canvas, labels, {**scene, "render": scene_render}
