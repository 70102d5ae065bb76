"""Raster primitives for the synthetic dataset, in plain NumPy: convex polygons
filled by scanline (a pixel is inside when its centre is, as
`skimage.draw.polygon`); points are (x, y) with pixel centres at integers.
"""

import colorsys
import functools
import math

import numpy as np

STRIPE_DARKNESS = 0.65


def hsv_colour(hue_degrees, saturation, value):
    """RGB float array (0-255) for a hue in degrees and saturation/value in [0, 1]."""
    rgb = colorsys.hsv_to_rgb((hue_degrees % 360.0) / 360.0, saturation, value)
    return np.array(rgb, dtype=np.float32) * 255.0


def random_hsv_colour(rng, hue_range, saturation_range, value_range):
    """`hsv_colour` of a hue, saturation and value drawn uniformly, in turn."""
    hue = rng.uniform(*hue_range)
    saturation = rng.uniform(*saturation_range)
    return hsv_colour(hue, saturation, rng.uniform(*value_range))


def paint(canvas, labels, rows, cols, colour, label, shade=None):
    """Writes `colour` (times per-pixel `shade`) and `label` at the given pixels."""
    if shade is None:
        canvas[rows, cols] = colour
    else:
        canvas[rows, cols] = shade[:, None] * colour[None, :]
    if labels is not None:
        labels[rows, cols] = label


def polygon_pixels(points_xy, shape):
    """Rows and columns of the pixels whose centres lie in a convex polygon:
    per image row, the span between the leftmost and rightmost edge crossing."""
    points_xy = np.asarray(points_xy, dtype=np.float64)
    height, width = shape
    top = max(math.ceil(points_xy[:, 1].min()), 0)
    bottom = min(math.floor(points_xy[:, 1].max()), height - 1)
    if bottom < top:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    rows = np.arange(top, bottom + 1)
    start_x, start_y = points_xy[:, 0], points_xy[:, 1]
    run = np.roll(start_x, -1) - start_x
    rise = np.roll(start_y, -1) - start_y
    # A horizontal edge never crosses a row strictly; its end points are
    # shared with the neighbouring edges, which do.
    rise[rise == 0] = 1e-12
    fraction = (rows[:, None] - start_y) / rise
    crossing = start_x + fraction * run
    on_edge = (fraction >= 0) & (fraction <= 1)
    left = np.ceil(np.where(on_edge, crossing, np.inf).min(axis=1))
    right = np.floor(np.where(on_edge, crossing, -np.inf).max(axis=1))
    left = np.maximum(left, 0).astype(np.int64)
    right = np.minimum(right, width - 1).astype(np.int64)
    lengths = np.maximum(right - left + 1, 0)
    row_index = np.repeat(rows, lengths)
    # Column = span start + position within the span, for every span at once.
    offsets = np.arange(lengths.sum()) - np.repeat(
        np.cumsum(lengths) - lengths, lengths
    )
    return row_index, np.repeat(left, lengths) + offsets


@functools.lru_cache(maxsize=8)
def unit_circle(count):
    """Read-only [count, 2] cosines and sines of `count` equally spaced angles."""
    angles = np.linspace(0.0, 2.0 * np.pi, count, endpoint=False)
    circle = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    circle.flags.writeable = False
    return circle


def disk(center_rc, radius, shape):
    """Pixels of a disk (as a 16-gon), same call as `skimage.draw.disk`."""
    points = np.array([center_rc[1], center_rc[0]]) + radius * unit_circle(16)
    return polygon_pixels(points, shape)


def ellipse_points(center_xy, axis_xy, half_length, half_width, count=20):
    """Vertices of an ellipse whose long axis points along unit `axis_xy`."""
    circle = unit_circle(count)
    normal = np.array([-axis_xy[1], axis_xy[0]])
    along = circle[:, :1] * half_length * np.asarray(axis_xy)
    across = circle[:, 1:] * half_width * normal
    return np.asarray(center_xy) + along + across


def stripe_shade(rows, cols, origin_xy, direction_xy, period):
    """Per-pixel brightness of bands perpendicular to `direction_xy`."""
    offset = (cols - origin_xy[0]) * direction_xy[0] + (
        rows - origin_xy[1]
    ) * direction_xy[1]
    dark = np.floor(offset / period).astype(np.int64) % 2 == 1
    return np.where(dark, STRIPE_DARKNESS, 1.0).astype(np.float32)


def limb_pixels(start_xy, end_xy, start_width, end_width, shape):
    """Pixels of a tapered limb with round ends (one convex outline), and its axis."""
    axis = end_xy - start_xy
    axis = axis / max(np.linalg.norm(axis), 1e-6)
    normal = np.array([-axis[1], axis[0]])
    # Half circles behind the start and ahead of the end; together with the
    # straight sides they outline a convex tapered capsule.
    half_circle = unit_circle(12)[:7]
    arc = half_circle[:, :1] * normal + half_circle[:, 1:] * axis
    outline = np.concatenate(
        [
            end_xy + max(end_width / 2, 1.0) * arc,
            start_xy - max(start_width / 2, 1.0) * arc,
        ]
    )
    rows, cols = polygon_pixels(outline, shape)
    return rows, cols, axis
