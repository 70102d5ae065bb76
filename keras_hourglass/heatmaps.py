"""Heatmap targets (TensorFlow, inside `tf.data`) and their decoding
(`keras.ops`: any backend, and inside an exported SavedModel). Pixel centres
are at integers: a joint at (x, y) = (3.0, 5.0) peaks on pixel [5, 3].
"""

import keras
import tensorflow as tf

from keras_hourglass.transforms import flip_permutation

# Offset (in heatmap px) the paper moves a prediction toward the higher
# neighbour; it removes most of argmax's quantisation error at no cost.
QUARTER_PIXEL = 0.25


def render_heatmaps(joints_out, annotated, size, sigma=1.0):
    """Renders one Gaussian per joint, peaking at 1 on its sub-pixel location,
    on a `size` x `size` grid; returns heatmaps [size, size, K] and weights [K].

    Joints (x, y) `joints_out` [K, 2] are in grid px. Unannotated joints and
    those off the grid get an all-zero map. The weights are 1 for every
    annotated joint, also off the grid, as pose-hg-train's MSE covers every
    map: the network learns to answer "not in this crop" with a flat map
    instead of being free to hallucinate a peak.
    """
    joints_out = tf.convert_to_tensor(joints_out, tf.float32)
    annotated = tf.cast(tf.convert_to_tensor(annotated), tf.float32) > 0
    # Inside the grid's extent [-0.5, size - 0.5] on both axes (and finite).
    limit = tf.cast(size, tf.float32) - 0.5
    inside = tf.reduce_all((joints_out >= -0.5) & (joints_out <= limit), axis=-1)
    drawn = tf.logical_and(annotated, inside)
    # Where a joint is not drawn its coordinates may be NaN or huge; zero them
    # so the exponentials below stay finite before masking.
    safe = tf.where(drawn[:, None], joints_out, tf.zeros_like(joints_out))
    grid = tf.range(size, dtype=tf.float32)[:, None]
    scale = -0.5 / (float(sigma) ** 2)
    # A Gaussian is separable: [size, K] profiles along each axis, multiplied
    # straight into the [size, size, K] layout; masking the x profile blanks
    # the whole map of a joint that is not drawn.
    along_x = tf.exp(scale * tf.square(grid - safe[:, 0])) * tf.cast(drawn, tf.float32)
    along_y = tf.exp(scale * tf.square(grid - safe[:, 1]))
    maps = along_y[:, None, :] * along_x[None, :, :]
    return maps, tf.cast(annotated, tf.float32)


def _neighbour_offset(flat_maps, index, step, position, length):
    """Returns +-0.25 toward the higher of the two neighbours along one axis,
    or 0 when one neighbour is off the grid (or both are equal)."""
    size = keras.ops.shape(flat_maps)[-1]
    after_index = keras.ops.clip(index + step, 0, size - 1)
    before_index = keras.ops.clip(index - step, 0, size - 1)
    after = keras.ops.take_along_axis(flat_maps, after_index[..., None], axis=-1)
    before = keras.ops.take_along_axis(flat_maps, before_index[..., None], axis=-1)
    direction = keras.ops.sign(after[..., 0] - before[..., 0])
    has_neighbours = keras.ops.logical_and(position > 0, position < length - 1)
    return keras.ops.where(has_neighbours, QUARTER_PIXEL * direction, 0.0)


def decode_heatmaps(heatmaps):
    """Returns coords [B, K, 2] (x, y heatmap px) and scores [B, K] of the
    maxima of heatmaps [B, h, w, K]: the argmax pixel moved a quarter pixel
    toward the higher neighbour along x and y (Newell et al. 2016, sec. 4)."""
    heatmaps = keras.ops.convert_to_tensor(heatmaps, dtype="float32")
    shape = keras.ops.shape(heatmaps)
    height, width = shape[1], shape[2]
    flat_maps = keras.ops.reshape(
        keras.ops.transpose(heatmaps, [0, 3, 1, 2]), (shape[0], shape[3], -1)
    )
    index = keras.ops.cast(keras.ops.argmax(flat_maps, axis=-1), "int32")
    scores = keras.ops.max(flat_maps, axis=-1)
    x = index % width
    y = index // width
    offset_x = _neighbour_offset(flat_maps, index, 1, x, width)
    offset_y = _neighbour_offset(flat_maps, index, width, y, height)
    coords = keras.ops.stack(
        [
            keras.ops.cast(x, "float32") + offset_x,
            keras.ops.cast(y, "float32") + offset_y,
        ],
        axis=-1,
    )
    return coords, scores


def flip_heatmaps(heatmaps, flip_pairs):
    """Mirrors heatmaps [B, h, w, K] and swaps left/right joint channels."""
    heatmaps = keras.ops.convert_to_tensor(heatmaps)
    num_joints = heatmaps.shape[-1]
    order = flip_permutation(num_joints, flip_pairs)
    mirrored = keras.ops.flip(heatmaps, axis=2)
    return keras.ops.take(mirrored, order, axis=-1)
