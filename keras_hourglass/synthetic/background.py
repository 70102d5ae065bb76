"""Cluttered backgrounds and random shapes (clutter, occluders)."""

import numpy as np

from keras_hourglass.synthetic import pose
from keras_hourglass.synthetic.raster import ellipse_points
from keras_hourglass.synthetic.raster import hsv_colour
from keras_hourglass.synthetic.raster import limb_pixels
from keras_hourglass.synthetic.raster import paint
from keras_hourglass.synthetic.raster import polygon_pixels
from keras_hourglass.synthetic.raster import stripe_shade


def smooth_background(rng, height, width, cell_px, amplitude):
    """A linear colour gradient plus low-frequency colour noise, H x W x 3.

    Both live on a coarse grid that is linearly upsampled once: linear
    interpolation reproduces the gradient exactly, and one upsampling of a
    small grid is far cheaper than full-size arithmetic per effect.
    """
    grid_rows, grid_cols = height // cell_px + 2, width // cell_px + 2
    start, end = random_colour(rng), random_colour(rng)
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


def interpolation_positions(size, grid_size):
    """Lower grid index and float32 weight of the upper one, for `size` samples."""
    positions = np.linspace(0.0, grid_size - 1.0, size)
    lower = np.minimum(positions.astype(np.int64), grid_size - 2)
    return lower, (positions - lower).astype(np.float32)


def upsample_linearly(grid, size, axis):
    """Linearly resamples axis 0 or 1 of an H x W x C grid to `size` samples.

    Plain NumPy gathers, not a matrix product: a BLAS call here would start
    worker threads that spin on the shared 2-core machines this runs on.
    """
    lower, fraction = interpolation_positions(size, grid.shape[axis])
    fraction = fraction[:, None, None] if axis == 0 else fraction[None, :, None]
    low = np.take(grid, lower, axis=axis)
    result = np.take(grid, lower + 1, axis=axis)
    result -= low
    result *= fraction
    result += low
    return result


def random_colour(rng):
    """Any colour, including ones close to the figures' limb colours."""
    return hsv_colour(rng.uniform(0, 360), rng.uniform(0.0, 1.0), rng.uniform(0.1, 1.0))


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
    rows, cols, _ = limb_pixels(
        center_xy - half_length * axis,
        center_xy + half_length * axis,
        width,
        width,
        shape,
    )
    return rows, cols


def paint_random_shape(canvas, rng, center_xy, size_px, labels=None):
    """Paints one random shape, plain or banded, and clears `labels` under it."""
    rows, cols = random_shape_pixels(
        rng, np.asarray(center_xy, float), size_px, canvas.shape[:2]
    )
    shade = None
    if rng.random() < 0.4:
        direction = pose.rotation_matrix(rng.uniform(0, 180)) @ np.array([1.0, 0.0])
        shade = stripe_shade(rows, cols, center_xy, direction, max(size_px * 0.12, 3.0))
    paint(canvas, labels, rows, cols, random_colour(rng), 0, shade)


def render_background(rng, height, width, max_clutter_shapes):
    """A cluttered background: gradient, smooth colour noise and random shapes."""
    cell_px = int(rng.integers(8, 64))
    canvas = smooth_background(rng, height, width, cell_px, rng.uniform(5.0, 30.0))
    for _ in range(rng.integers(0, max_clutter_shapes + 1)):
        center = rng.uniform((0, 0), (width, height))
        size = rng.uniform(0.05, 0.4) * min(height, width)
        paint_random_shape(canvas, rng, center, size)
    return canvas
