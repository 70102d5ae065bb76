"""Crop boxes, affine matrices and keypoint transforms (TensorFlow ops that
also take NumPy arrays; leading batch dimensions broadcast).

Coordinates have pixel centres at integers. A person's crop window, the
square of side `200 * scale` px, is mapped onto an `output_size` grid so that
its edges land on [-0.5, output_size - 0.5]:

    u = (x - cx + 100 * s) * output_size / (200 * s) - 0.5

so a 256 x 256 input crop and a 64 x 64 heatmap of the same window agree
without any extra offset.

This module is the one home of the crop convention and of the conversions
between person boxes and (centre, scale). Boxes, unlike joints, have pixel
EDGES at integers everywhere (annotation files, CSV columns, requests). The
centre shift and margin belong to a model: ours use pose-hg-train's
(`OFFICIAL_TORCH`), converted port weights the port's (`PYTORCH_PORT`).
"""

import math
from dataclasses import asdict
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

# pose-hg-train moves the crop centre down and enlarges the box so that the
# whole body (MPII `objpos` sits near the belly) fits in the 256 x 256 crop.
CROP_CENTER_SHIFT_Y = 15.0
CROP_SCALE_FACTOR = 1.25
PIXELS_PER_SCALE = 200.0
CROP_CONVENTION_KEY = "crop_convention"


@dataclass(frozen=True)
class CropConvention:
    """A crop window centred `center_shift_y * scale` px below the person
    centre, `200 * scale_factor * scale` px wide; `name` says whose it is."""

    name: str
    center_shift_y: float
    scale_factor: float

    def to_metadata(self):
        """Returns the JSON-serialisable dict stored with a model."""
        return asdict(self)


# Our training, evaluation and serving crop (pose-hg-train `src/util/img.lua`
# callers): every model trained here uses it.
OFFICIAL_TORCH = CropConvention("pose-hg-train", CROP_CENTER_SHIFT_Y, CROP_SCALE_FACTOR)
# princeton-vl/pytorch_stacked_hourglass crops the plain 200 * scale window
# around the annotated centre (`utils/img.py` `crop`, called by `test.py` and
# `data/MPII/dp.py`), so its published weights expect that window.
PYTORCH_PORT = CropConvention("pytorch_stacked_hourglass", 0.0, 1.0)


def crop_convention_from_metadata(metadata, where="model metadata"):
    """The `CropConvention` a model's metadata records (default
    `OFFICIAL_TORCH`); ValueError naming `where` for a malformed one."""
    entry = metadata.get(CROP_CONVENTION_KEY)
    if entry is None:
        return OFFICIAL_TORCH
    try:
        convention = CropConvention(
            name=str(entry["name"]),
            center_shift_y=float(entry["center_shift_y"]),
            scale_factor=float(entry["scale_factor"]),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(
            f"{where}: {CROP_CONVENTION_KEY} must hold name, center_shift_y and "
            f"scale_factor; got {entry!r} ({error!r})"
        ) from None
    if not (math.isfinite(convention.center_shift_y)
            and math.isfinite(convention.scale_factor)
            and convention.scale_factor > 0):  # fmt: skip
        raise ValueError(
            f"{where}: {CROP_CONVENTION_KEY} needs a finite shift and a positive "
            f"scale factor; got {entry!r}"
        )
    return convention


def box_from_person(center, scale):
    """The square (x, y, w, h) box of a stored person: `person_from_box` inverted."""
    center = np.asarray(center, np.float32)
    side = person_box_side(np.asarray(scale, np.float32))
    corner = center + 0.5 - side[..., None] / 2.0
    return np.concatenate([corner, side[..., None], side[..., None]], axis=-1)


def person_box_side(scale):
    """The larger side in px of a person's box, `200 x scale` (NumPy)."""
    return PIXELS_PER_SCALE * np.asarray(scale)


def person_from_box(box, margin=1.0):
    """`(center [..., 2], scale [...])` of (x, y, w, h) boxes [..., 4]: the box
    centre and the larger side (lying people keep their size) times `margin`
    over 200 px. NumPy in, float64 out; a tensor in, float32 tensors out."""
    if tf.is_tensor(box):
        box = tf.cast(box, tf.float32)
        larger = tf.maximum(box[..., 2], box[..., 3])
    else:
        box = np.asarray(box, np.float64)
        larger = np.maximum(box[..., 2], box[..., 3])
    # Edges at integers -> centres at integers: subtract half a pixel.
    center = box[..., :2] + box[..., 2:] / 2.0 - 0.5
    return center, margin * larger / PIXELS_PER_SCALE


def person_center_for_crop(crop_center, scale):
    """The stored person centre whose `OFFICIAL_TORCH` crop is centred at
    `crop_center` (NumPy)."""
    shift = np.array([0.0, CROP_CENTER_SHIFT_Y * scale])
    return np.asarray(crop_center) - shift


def _float32(value):
    return tf.cast(tf.convert_to_tensor(value), tf.float32)


def crop_box_from_person(center, scale, convention=OFFICIAL_TORCH):
    """float32 `(crop_center [..., 2], crop_scale [...])` of a stored person:
    the one place a crop convention is applied."""
    center = _float32(center)
    scale = _float32(scale)
    shift_y = convention.center_shift_y * scale
    shift = tf.stack([tf.zeros_like(scale), shift_y], axis=-1)
    return center + shift, convention.scale_factor * scale


def person_crop_matrix(
    center, scale, output_size, scale_multiplier=1.0, rotation_degrees=0.0,
    flip=False, convention=OFFICIAL_TORCH,
):  # fmt: skip
    """The original px -> crop px matrix of a stored person: its crop window,
    scaled by `scale_multiplier` (augmentation), then `crop_matrix`."""
    crop_center, crop_scale = crop_box_from_person(center, scale, convention)
    return crop_matrix(
        crop_center,
        crop_scale * _float32(scale_multiplier),
        output_size,
        rotation_degrees,
        flip,
    )


def _affine(row_x, row_y):
    """Stacks two [..., 3] rows and [0, 0, 1] into [..., 3, 3] matrices."""
    last = tf.concat(
        [tf.zeros_like(row_x[..., :2]), tf.ones_like(row_x[..., :1])], axis=-1
    )
    return tf.stack([row_x, row_y, last], axis=-2)


def crop_matrix(center, scale, output_size, rotation_degrees=0.0, flip=False):
    """float32 [..., 3, 3] matrices mapping original px to a square
    `output_size` grid: the window (side `200 * scale` px) scaled onto the
    grid, rotated by `rotation_degrees` about its centre (counter-clockwise
    on screen, as pose-hg-train), then mirrored where `flip`."""
    center = _float32(center)
    scale = _float32(scale)
    size = _float32(output_size)
    angle = _float32(rotation_degrees) * (math.pi / 180.0)
    flip = tf.convert_to_tensor(flip, dtype=tf.bool)
    shape = tf.broadcast_dynamic_shape(tf.shape(scale), tf.shape(angle))
    shape = tf.broadcast_dynamic_shape(shape, tf.shape(flip))
    shape = tf.broadcast_dynamic_shape(shape, tf.shape(center)[:-1])
    zoom = tf.broadcast_to(size / (PIXELS_PER_SCALE * scale), shape)
    cos = tf.broadcast_to(tf.cos(angle), shape) * zoom
    sin = tf.broadcast_to(tf.sin(angle), shape) * zoom
    sign = tf.where(tf.broadcast_to(flip, shape), -1.0, 1.0)
    grid_center = size / 2.0 - 0.5
    cx = tf.broadcast_to(center[..., 0], shape)
    cy = tf.broadcast_to(center[..., 1], shape)
    # u' = R (x - c) * zoom + grid_center, with y pointing down on screen.
    u_t = grid_center - cos * cx - sin * cy
    v_t = grid_center + sin * cx - cos * cy
    # The mirror u -> size - 1 - u keeps v and negates the u row.
    mirror_offset = tf.where(sign < 0, size - 1.0, 0.0)
    row_u = tf.stack([sign * cos, sign * sin, sign * u_t + mirror_offset], axis=-1)
    row_v = tf.stack([-sin, cos, v_t], axis=-1)
    return _affine(row_u, row_v)


def invert_affine(matrix):
    """Returns the inverse of affine matrices [..., 3, 3] (closed form)."""
    matrix = _float32(matrix)
    a, b, tx = matrix[..., 0, 0], matrix[..., 0, 1], matrix[..., 0, 2]
    c, d, ty = matrix[..., 1, 0], matrix[..., 1, 1], matrix[..., 1, 2]
    determinant = a * d - b * c
    ia, ib = d / determinant, -b / determinant
    ic, id_ = -c / determinant, a / determinant
    row_x = tf.stack([ia, ib, -(ia * tx + ib * ty)], axis=-1)
    row_y = tf.stack([ic, id_, -(ic * tx + id_ * ty)], axis=-1)
    return _affine(row_x, row_y)


def transform_points(points, matrix):
    """Applies affine matrices [..., 3, 3] to points [..., K, 2]."""
    points = _float32(points)
    matrix = _float32(matrix)
    linear = matrix[..., :2, :2]
    offset = matrix[..., :2, 2]
    return tf.linalg.matmul(points, linear, transpose_b=True) + offset[..., None, :]


def scale_grid_matrix(from_size, to_size):
    """The matrix from a `from_size` grid to a `to_size` grid of one window."""
    ratio = _float32(to_size) / _float32(from_size)
    offset = 0.5 * ratio - 0.5
    zero = tf.zeros_like(ratio)
    return _affine(tf.stack([ratio, zero, offset]), tf.stack([zero, ratio, offset]))


def flip_permutation(num_joints, flip_pairs):
    """The joint order after a horizontal flip, as a list."""
    order = list(range(num_joints))
    for left, right in flip_pairs:
        if not (0 <= left < num_joints and 0 <= right < num_joints):
            raise ValueError(
                f"flip pair ({left}, {right}) is outside 0..{num_joints - 1}"
            )
        order[left], order[right] = right, left
    return order


def swap_left_right(array_with_joint_axis, flip_pairs, axis):
    """Swaps the entries of each (left, right) joint pair along `axis`."""
    array = tf.convert_to_tensor(array_with_joint_axis)
    num_joints = array.shape[axis]
    if num_joints is None:
        raise ValueError("swap_left_right needs a static joint axis length")
    return tf.gather(array, flip_permutation(num_joints, flip_pairs), axis=axis)
