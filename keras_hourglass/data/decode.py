"""Decoding encoded images and warping crops out of them (graph ops only).

Shared by the input pipeline and the exported model's request
preprocessing: evaluation and serving cut the reference crop
(`decode_image_region` + `warp_image`); training decodes with DCT scaling
and warps with `warp_and_scale_colours`, which returns the matrix it
applied so its targets match its pixels.
"""

import tensorflow as tf

from keras_hourglass.transforms import invert_affine
from keras_hourglass.transforms import transform_points

# Scale denominators libjpeg's DCT scaling offers (`decode_and_crop_jpeg`'s
# `ratio`), indexed by their base-2 logarithm.
DCT_SCALE_RATIOS = (1, 2, 4, 8)


def crop_window_in_image(matrix, output_size, image_height, image_width):
    """Returns `(top, left, height, width)` int32 of the image region a warp by
    `matrix` (original -> output px) reads, clipped to the image, at least 1 x 1."""
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


def dct_scale_exponent(matrix):
    """Returns int32 e in 0..3, the largest with an image decoded at 1 / 2 ** e
    still at least as fine as the output grid of `matrix`."""
    linear = matrix[:2, :2]
    determinant = linear[0, 0] * linear[1, 1] - linear[0, 1] * linear[1, 0]
    source_per_output = tf.math.rsqrt(tf.abs(determinant))
    exponent = tf.floor(tf.experimental.numpy.log2(tf.maximum(source_per_output, 1.0)))
    return tf.cast(tf.minimum(exponent, len(DCT_SCALE_RATIOS) - 1.0), tf.int32)


def matrix_for_scaled_image(matrix, ratio):
    """Returns `matrix` re-expressed for an image decoded at 1 / `ratio`:
    scaled px x covers original px [ratio x - 0.5, ratio (x + 1) - 0.5], so
    its centre is original px ratio x + (ratio - 1) / 2."""
    ratio = tf.cast(ratio, tf.float32)
    offset = (ratio - 1.0) / 2.0
    scaling = tf.stack([[ratio, 0.0, offset], [0.0, ratio, offset], [0.0, 0.0, 1.0]])
    return tf.linalg.matmul(matrix, scaling)


def decode_image_region(image_bytes, matrix, output_size, dct_scaling=False):
    """Decodes only the part of a JPEG that the crop reads (all of a PNG);
    returns `(uint8 region, region px -> output px matrix, the whole image's
    (height, width))`.

    With `dct_scaling`, a JPEG is decoded at 1/2, 1/4 or 1/8 scale when the
    crop spans that many original px per output px: libjpeg's inverse DCT then
    downsamples, cheaper than a full decode and without aliasing.
    """

    def decode_jpeg_region():
        shape = tf.io.extract_jpeg_shape(image_bytes)
        exponent = dct_scale_exponent(matrix) if dct_scaling else 0
        ratio = tf.bitwise.left_shift(1, exponent)
        scaled_matrix = matrix_for_scaled_image(matrix, ratio)
        # libjpeg rounds scaled sizes up.
        top, left, height, width = crop_window_in_image(
            scaled_matrix,
            output_size,
            (shape[0] + ratio - 1) // ratio,
            (shape[1] + ratio - 1) // ratio,
        )
        window = tf.stack([top, left, height, width])
        # `ratio` is an attribute of the op, so each value is its own branch.
        branches = [
            lambda each=each: tf.io.decode_and_crop_jpeg(
                image_bytes, window, channels=3, ratio=each
            )
            for each in DCT_SCALE_RATIOS
        ]
        region = tf.switch_case(exponent, branches) if dct_scaling else branches[0]()
        return region, shift_matrix_to_region(scaled_matrix, top, left), shape[:2]

    def decode_other():
        image = tf.io.decode_image(image_bytes, channels=3, expand_animations=False)
        return image, matrix, tf.shape(image)[:2]

    return tf.cond(tf.io.is_jpeg(image_bytes), decode_jpeg_region, decode_other)


def whole_pixel_window(scale, offset, output_size):
    """For one axis of an unrotated matrix (u = scale * x + offset), returns
    `(first, count, applied_scale, applied_offset)`: the run of whole image px
    nearest the output's extent (centre within half a px, size within one) and
    the matrix entries resizing it onto the output (mirrored if `scale` < 0)."""
    size = tf.cast(output_size, tf.float32)
    # Image px of the output's two outer edges, u = -0.5 and u = size - 0.5.
    edge_a = (-0.5 - offset) / scale
    edge_b = (size - 0.5 - offset) / scale
    count = tf.maximum(tf.round(tf.abs(edge_b - edge_a)), 1.0)
    first = tf.round(0.5 * (edge_a + edge_b) - 0.5 * count + 0.5)
    # Resizing px first - 0.5 .. first + count - 0.5 onto -0.5 .. size - 0.5.
    zoom = size / count
    applied_offset = (0.5 - first) * zoom - 0.5
    mirrored = scale < 0.0
    applied_scale = tf.where(mirrored, -zoom, zoom)
    applied_offset = tf.where(mirrored, size - 1.0 - applied_offset, applied_offset)
    first, count = tf.cast(first, tf.int32), tf.cast(count, tf.int32)
    return first, count, applied_scale, applied_offset


def _clipped_run(first, count, length):
    """Returns `(start, stop, zeros_before, zeros_after)` of the run of
    `count` px from `first` on an axis of `length` px."""
    start = tf.clip_by_value(first, 0, length)
    stop = tf.maximum(start, tf.clip_by_value(first + count, 0, length))
    before = tf.clip_by_value(-first, 0, count)
    return start, stop, before, count - before - (stop - start)


def take_window(image, first_y, count_y, first_x, count_x):
    """Returns the `count_y` x `count_x` px of `image` [h, w, C] from
    (`first_y`, `first_x`), zeros where they fall outside the image."""
    shape = tf.shape(image)
    top, bottom, above, below = _clipped_run(first_y, count_y, shape[0])
    left, right, before, after = _clipped_run(first_x, count_x, shape[1])
    paddings = tf.stack([[above, below], [before, after], [0, 0]])
    return tf.pad(image[top:bottom, left:right], paddings)


def resize_axis_aligned(image, matrix, output_size):
    """Bilinear resize of `image` [h, w, C] for an unrotated, possibly
    mirrored `matrix` (image px -> output px): the nearest whole-pixel window
    resized with `ResizeBilinear`, cheaper than the projective warp. Returns
    `(float32 [S, S, C] in the input's range, the matrix applied)`.
    """
    first_x, count_x, scale_x, offset_x = whole_pixel_window(
        matrix[0, 0], matrix[0, 2], output_size
    )
    first_y, count_y, scale_y, offset_y = whole_pixel_window(
        matrix[1, 1], matrix[1, 2], output_size
    )
    window = take_window(image, first_y, count_y, first_x, count_x)
    # Mirroring the (uint8, often smaller) window before the resize equals
    # mirroring its output: the resize's sampling is symmetric.
    window = tf.cond(
        scale_x < 0.0, lambda: tf.reverse(window, axis=[1]), lambda: window
    )
    resized = tf.raw_ops.ResizeBilinear(
        images=window[None],
        size=tf.stack([output_size, output_size]),
        half_pixel_centers=True,
    )[0]
    applied = tf.stack(
        [[scale_x, 0.0, offset_x], [0.0, scale_y, offset_y], [0.0, 0.0, 1.0]]
    )
    return resized, applied


def warp_and_scale_colours(image, matrix, output_size, gains):
    """Warps a uint8 `image` by `matrix` (image px -> output px) and applies the
    colour gains in the same pass; returns `(float32 [S, S, 3] in [0, 1], the
    matrix applied)`, which differs for an unrotated crop (`resize_axis_aligned`)."""
    unrotated = tf.logical_and(tf.equal(matrix[0, 1], 0.0), tf.equal(matrix[1, 0], 0.0))
    upright = matrix[1, 1] > 0.0
    # Both branches give float32 in 0-255; the projective warp is cheaper
    # on float32 than on uint8 input (and then does not round).
    warped, applied = tf.cond(
        tf.logical_and(unrotated, upright),
        lambda: resize_axis_aligned(image, matrix, output_size),
        lambda: (warp_image(tf.cast(image, tf.float32), matrix, output_size), matrix),
    )
    # Gains along a long [S, S * 3] row are cheaper than over a last axis of 3.
    # Warps give values >= 0 and gains are positive: only the top is clipped.
    row_gains = tf.tile(tf.cast(gains, tf.float32) / 255.0, [output_size])
    rows = tf.reshape(warped, [output_size, output_size * 3]) * row_gains
    return tf.reshape(tf.minimum(rows, 1.0), [output_size, output_size, 3]), applied


def warp_image(image, matrix, output_size):
    """Warps `image` [h, w, C] by `matrix` (image px -> output px) onto an
    `output_size` square grid: bilinear, zeros outside, uint8 to [0, 1]."""
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
