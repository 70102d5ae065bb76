"""Decoding encoded images and warping crops out of them (graph ops only).

Shared by the input pipeline and the exported model's request
preprocessing, so a crop is cut the same way in training, evaluation and
serving. Only the part of a JPEG that a crop reads is decoded.
"""

import tensorflow as tf

from keras_hourglass.transforms import invert_affine
from keras_hourglass.transforms import transform_points

JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG"
# A complete file ends with its end marker; we look for it near the end only
# (some cameras append data after the JPEG end-of-image marker).
TAIL_BYTES = 65536


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
