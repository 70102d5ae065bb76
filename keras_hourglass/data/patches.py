"""Person-centred patches at a bounded resolution, made at conversion time.

Decoding a whole 1280x720 JPEG for one 256x256 crop is most of the pipeline's
work per sample. A training record can instead hold only the part any augmented
crop (`examples.PAPER_AUGMENTATION`) can read, scaled down to a source pixel per
input pixel at the largest zoom; its coordinates move with the pixels.
"""

import math

import numpy as np
import tensorflow as tf

from keras_hourglass.data.examples import PAPER_AUGMENTATION
from keras_hourglass.data.tfrecords import UNKNOWN
from keras_hourglass.transforms import PIXELS_PER_SCALE
from keras_hourglass.transforms import crop_box_from_person

PATCH_JPEG_QUALITY = 95
# The largest zoom either way: the scale exponent is clipped at 2 std.
MAX_ZOOM = 2.0 ** (2.0 * PAPER_AUGMENTATION.scale_factor)


def patch_geometry(center, scale, image_width, image_height, input_size):
    """Returns `(left, top, width, height, factor)`: the image region any crop
    reads (within a square of side `w * MAX_ZOOM * sqrt(2)`) and the factor
    (<= 1) that still gives the smallest window `w / MAX_ZOOM` `input_size` px."""
    crop_center, crop_scale = crop_box_from_person(center, scale)
    crop_center = np.asarray(crop_center, np.float64)
    window = PIXELS_PER_SCALE * float(crop_scale)
    half_side = 0.5 * window * MAX_ZOOM * math.sqrt(2.0) + 1.0
    left = max(0, math.floor(crop_center[0] - half_side))
    top = max(0, math.floor(crop_center[1] - half_side))
    right = min(image_width, math.ceil(crop_center[0] + half_side) + 1)
    bottom = min(image_height, math.ceil(crop_center[1] + half_side) + 1)
    factor = min(1.0, input_size * MAX_ZOOM / window)
    return left, top, max(right - left, 1), max(bottom - top, 1), factor


def patches_hold_crops(patch_input_size, input_size, scale_factor):
    """True when patches made for `patch_input_size` hold every training crop
    of `input_size` zoomed by `scale_factor`: a larger crop would be upscaled
    from fewer pixels, a wider zoom would read black past the patch's edge."""
    return (
        input_size <= patch_input_size
        and scale_factor <= PAPER_AUGMENTATION.scale_factor
    )


def to_patch_px(points, left, top, factor):
    """Maps original px (x, y) to patch px (pixel centres at integers)."""
    points = np.asarray(points, np.float64)
    return (points - [left, top] + 0.5) * factor - 0.5


def bounded_person_patch(person, input_size=256):
    """Returns `person`'s `serialize_person` keyword arguments for its patch,
    for crops of `input_size`: JPEG bytes, size and coordinates in patch px."""
    image = tf.io.decode_image(
        person["image_bytes"], channels=3, expand_animations=False
    )
    left, top, width, height, factor = patch_geometry(
        person["center"],
        person["scale"],
        int(person["width"]),
        int(person["height"]),
        input_size,
    )
    region = image[top : top + height, left : left + width]
    size = [max(1, math.ceil(height * factor)), max(1, math.ceil(width * factor))]
    # Patch px x has its centre at original px (x + 0.5) / factor - 0.5 + left:
    # isotropic, whatever the rounding of the patch size.
    patch = tf.raw_ops.ScaleAndTranslate(
        images=tf.cast(region[None], tf.float32),
        size=size,
        scale=[factor, factor],
        translation=[0.0, 0.0],
        kernel_type="triangle",
        antialias=True,
    )[0]
    patch = tf.cast(tf.clip_by_value(tf.round(patch), 0.0, 255.0), tf.uint8)
    patched = dict(person)
    patched["image_bytes"] = tf.io.encode_jpeg(
        patch, quality=PATCH_JPEG_QUALITY
    ).numpy()
    patched["image_format"] = "jpeg"
    patched["height"], patched["width"] = size
    patched["joints"] = to_patch_px(person["joints"], left, top, factor)
    patched["center"] = to_patch_px(person["center"], left, top, factor)
    patched["scale"] = float(person["scale"]) * factor
    head_box = person.get("head_box")
    if head_box is not None and UNKNOWN not in list(head_box):
        corners = np.reshape(np.asarray(head_box, np.float64), (2, 2))
        patched["head_box"] = to_patch_px(corners, left, top, factor).reshape(-1)
    normalizer = person.get("normalizer")
    if normalizer is not None and normalizer != UNKNOWN:
        patched["normalizer"] = float(normalizer) * factor
    return patched
