"""Per-person image steps of the input pipeline (graph ops only).

Random augmentation follows pose-hg-train `src/util/pose.lua`
(`generateSample`): the scale is multiplied by `2 ** clip(N(0, 1) * 0.25,
-0.5, 0.5)`, the rotation is `clip(N(0, 1) * 30, -60, 60)` degrees applied with
probability 0.4, the crop is mirrored with probability 0.5 (left/right joints
swapped), each colour channel is multiplied by U(0.6, 1.4) and clipped to
[0, 1], and there is no translation. Randomness is stateless: every sample gets
its own seed, so a fixed pipeline seed reproduces every crop.
"""

import tensorflow as tf

from keras_hourglass.transforms import invert_affine
from keras_hourglass.transforms import transform_points

JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG"
# A complete file ends with its end marker; we look for it near the end only
# (some cameras append data after the JPEG end-of-image marker).
TAIL_BYTES = 65536


def sample_augmentation(
    seed,
    scale_factor=0.25,
    rotation_degrees=30.0,
    rotation_probability=0.4,
    flip_probability=0.5,
    color_range=(0.6, 1.4),
):
    """Draws one sample's augmentation from a stateless `seed` (int [2]).

    Returns:
        dict with `scale_multiplier` (scalar), `rotation` (degrees, scalar),
        `flip` (bool scalar) and `color_gains` (float32 [3]).
    """
    seeds = tf.random.experimental.stateless_split(seed, num=5)
    scale_normal = tf.random.stateless_normal([], seeds[0])
    scale_exponent = tf.clip_by_value(
        scale_normal * scale_factor, -2.0 * scale_factor, 2.0 * scale_factor
    )
    angle = tf.clip_by_value(
        tf.random.stateless_normal([], seeds[1]) * rotation_degrees,
        -2.0 * rotation_degrees,
        2.0 * rotation_degrees,
    )
    rotate = tf.random.stateless_uniform([], seeds[2]) < rotation_probability
    flip = tf.random.stateless_uniform([], seeds[3]) < flip_probability
    gains = tf.random.stateless_uniform(
        [3], seeds[4], minval=color_range[0], maxval=color_range[1]
    )
    return {
        "scale_multiplier": tf.pow(2.0, scale_exponent),
        "rotation": tf.where(rotate, angle, 0.0),
        "flip": flip,
        "color_gains": gains,
    }


def no_augmentation():
    """Returns the neutral augmentation (evaluation)."""
    return {
        "scale_multiplier": tf.constant(1.0),
        "rotation": tf.constant(0.0),
        "flip": tf.constant(False),
        "color_gains": tf.ones([3]),
    }


def looks_like_complete_image(image_bytes):
    """Returns a bool scalar: the bytes start like a JPEG/PNG and contain that
    format's end marker near the end (catches empty, foreign and truncated
    files before the decoder fails on them)."""
    tail_start = tf.maximum(tf.strings.length(image_bytes) - TAIL_BYTES, 0)
    tail = tf.strings.substr(image_bytes, tail_start, TAIL_BYTES)
    tail = tf.io.decode_raw(tail + b"\x00", tf.uint8)
    is_jpeg = tf.equal(tf.strings.substr(image_bytes, 0, 3), JPEG_MAGIC)
    is_png = tf.equal(tf.strings.substr(image_bytes, 0, 4), PNG_MAGIC)
    has_jpeg_end = tf.reduce_any(
        tf.logical_and(tf.equal(tail[:-1], 0xFF), tf.equal(tail[1:], 0xD9))
    )
    # A PNG ends with the IEND chunk type followed by its 4-byte CRC.
    end_position = tf.maximum(tf.strings.length(image_bytes) - 8, 0)
    has_png_end = tf.equal(tf.strings.substr(image_bytes, end_position, 4), b"IEND")
    return tf.logical_or(
        tf.logical_and(is_jpeg, has_jpeg_end), tf.logical_and(is_png, has_png_end)
    )


def crop_window_in_image(matrix, output_size, image_height, image_width):
    """Returns `(top, left, height, width)` int32 of the image region that a
    warp by `matrix` (original -> output px) reads, clipped to the image and
    at least 1 x 1 (when the crop misses the image the warp fills zeros)."""
    edge = tf.cast(output_size, tf.float32) - 0.5
    corners = tf.stack([[-0.5, -0.5], [edge, -0.5], [-0.5, edge], [edge, edge]])
    corners = transform_points(corners, invert_affine(matrix))
    # One extra pixel on each side feeds the bilinear interpolation.
    low = tf.cast(tf.floor(tf.reduce_min(corners, axis=0)), tf.int32) - 1
    high = tf.cast(tf.math.ceil(tf.reduce_max(corners, axis=0)), tf.int32) + 1
    limit = tf.stack([image_width, image_height]) - 1
    low = tf.clip_by_value(low, 0, limit)
    high = tf.clip_by_value(high, low, limit)
    size = high - low + 1
    return low[1], low[0], size[1], size[0]


def shift_matrix_to_region(matrix, top, left):
    """Returns `matrix` re-expressed for an image region starting at
    (top, left): region px (x, y) is original px (x + left, y + top)."""
    offset = tf.cast(tf.stack([left, top]), tf.float32)
    translation = tf.concat(
        [tf.concat([tf.eye(2), offset[:, None]], axis=1), [[0.0, 0.0, 1.0]]], axis=0
    )
    return tf.linalg.matmul(matrix, translation)


def decode_image_region(image_bytes, matrix, output_size):
    """Decodes only the part of a JPEG that the crop reads (full decode for
    PNG). Returns `(uint8 region [h, w, 3], matrix for the region, image
    shape [2] as (height, width))`."""

    def decode_jpeg_region():
        shape = tf.io.extract_jpeg_shape(image_bytes)
        top, left, height, width = crop_window_in_image(
            matrix, output_size, shape[0], shape[1]
        )
        region = tf.io.decode_and_crop_jpeg(
            image_bytes, tf.stack([top, left, height, width]), channels=3
        )
        return region, shift_matrix_to_region(matrix, top, left), shape[:2]

    def decode_other():
        image = tf.io.decode_image(image_bytes, channels=3, expand_animations=False)
        return image, matrix, tf.shape(image)[:2]

    return tf.cond(tf.io.is_jpeg(image_bytes), decode_jpeg_region, decode_other)


def warp_image(image, matrix, output_size):
    """Warps `image` [h, w, C] by `matrix` (image px -> output px) onto an
    `output_size` square grid: bilinear, zeros outside. Returns float32 in
    [0, 1] when the input is uint8."""
    # ImageProjectiveTransformV3 maps OUTPUT px to INPUT px (pixel centres at
    # integers), so it takes the inverse matrix, row-major, without its last row.
    inverse = invert_affine(matrix)
    transform = tf.reshape(inverse, [9])[:8]
    warped = tf.raw_ops.ImageProjectiveTransformV3(
        images=image[None],
        transforms=transform[None],
        output_shape=tf.stack([output_size, output_size]),
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )[0]
    if image.dtype == tf.uint8:
        return tf.cast(warped, tf.float32) / 255.0
    return tf.cast(warped, tf.float32)


def scale_colours(image, gains):
    """Multiplies each channel of a [0, 1] image by its gain, clipped to [0, 1]."""
    return tf.clip_by_value(image * gains, 0.0, 1.0)
