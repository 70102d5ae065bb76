"""Decoding: from cropped images to keypoints in original image pixels.

Shared by the predictor, the evaluation program, the training callbacks and
the exported SavedModel graph, so all decode predictions the same way; every
function runs in a graph and eagerly (TensorFlow ops and `keras.ops` only).

The chain is: network heatmaps (optionally averaged with the mirrored image's
heatmaps, flipped back) -> argmax with the paper's quarter-pixel refinement ->
heatmap px -> original image px through the inverse crop matrix, in floats
throughout (pixel centres at integers).
"""

import keras
import tensorflow as tf

from keras_hourglass.heatmaps import decode_heatmaps
from keras_hourglass.heatmaps import flip_heatmaps
from keras_hourglass.model import stack_index_of_output
from keras_hourglass.transforms import invert_affine
from keras_hourglass.transforms import scale_grid_matrix
from keras_hourglass.transforms import transform_points


def stack_heatmaps_list(outputs):
    """Returns the model's heatmap outputs as a list, first stack first.

    A functional model with one output returns a bare tensor, several outputs a
    list; a dict (e.g. a reloaded signature) is ordered by the stack number in
    its `stack{i}_heatmaps` keys.
    """
    if isinstance(outputs, dict):
        order = sorted(outputs, key=lambda name: stack_index_of_output(name) or 0)
        return [outputs[key] for key in order]
    if isinstance(outputs, list | tuple):
        return list(outputs)
    return [outputs]


def model_heatmaps(model_or_fn, images, all_stacks=False):
    """The last stack's heatmaps [B, h, w, K] (every stack's, as a list, with
    `all_stacks`) of images [B, S, S, 3] (float32 in [0, 1])."""
    outputs = stack_heatmaps_list(model_or_fn(images, training=False))
    return outputs if all_stacks else outputs[-1]


def flip_test_heatmaps(model_or_fn, images, flip_pairs, all_stacks=False):
    """Averages the heatmaps of the images and of their mirror images.

    The mirrored copy's heatmaps are mirrored back and their left/right joint
    channels swapped before averaging (the paper's test-time flip). Mirroring
    an input crop mirrors its heatmap grid exactly under the project's pixel
    convention, so no half-pixel shift is needed.

    `model_or_fn` is a Keras model or a callable `fn(images, training=False)`
    returning heatmaps (a tensor, a list per stack or a dict); `flip_pairs`
    are (left, right) joint indices. Returns float32 [B, h, w, K] (a list of
    every stack's with `all_stacks`).
    """
    images = keras.ops.convert_to_tensor(images, dtype="float32")
    mirrored = keras.ops.flip(images, axis=2)
    both = keras.ops.concatenate([images, mirrored], axis=0)
    batch = keras.ops.shape(images)[0]
    # One forward pass over the doubled batch instead of two calls.
    averaged = []
    for heatmaps in model_heatmaps(model_or_fn, both, all_stacks=True):
        direct = heatmaps[:batch]
        flipped_back = flip_heatmaps(heatmaps[batch:], flip_pairs)
        averaged.append(0.5 * (direct + flipped_back))
    return averaged if all_stacks else averaged[-1]


def heatmap_coords_to_input(coords, input_size, heatmap_size):
    """Maps heatmap px [..., K, 2] to input crop px (same window, finer grid)."""
    return transform_points(coords, scale_grid_matrix(heatmap_size, input_size))


def heatmap_coords_to_image(coords, crop_matrices, input_size, heatmap_size):
    """Maps heatmap px [B, K, 2] to original image px through the inverse crop.

    Args:
        coords: float [B, K, 2]. (x, y) in heatmap px.
        crop_matrices: float [B, 3, 3]. Original px -> input px of each crop
            (`transforms.crop_matrix`); the heatmap grid covers the same
            window as the input grid.
        input_size: int. Side of the square input crop.
        heatmap_size: int. Side of the square heatmap.

    Returns:
        float32 [B, K, 2], (x, y) in original image px.
    """
    to_heatmap = tf.linalg.matmul(
        scale_grid_matrix(input_size, heatmap_size),
        tf.cast(crop_matrices, tf.float32),
    )
    return transform_points(coords, invert_affine(to_heatmap))


def heatmaps_to_image_keypoints(heatmaps, crop_matrices, input_size):
    """Decodes heatmaps into keypoints in original image pixels.

    Args:
        heatmaps: float32 [B, h, w, K].
        crop_matrices: float32 [B, 3, 3]. Original px -> input px of each crop.
        input_size: int. Side of the square input crop (e.g. 256).

    Returns:
        keypoints float32 [B, K, 2] as (x, y) in original image px, and scores
        float32 [B, K] (heatmap value at the peak).
    """
    heatmaps = tf.convert_to_tensor(heatmaps, tf.float32)
    coords, scores = decode_heatmaps(heatmaps)
    heatmap_size = tf.shape(heatmaps)[1]
    keypoints = heatmap_coords_to_image(coords, crop_matrices, input_size, heatmap_size)
    return keypoints, scores


def predict_keypoints(model, images, crop_matrices, flip_pairs=None, flip_test=True):
    """Predicts keypoints in original image px for a batch of person crops.

    Args:
        model: Keras model (or callable) mapping images to heatmaps.
        images: float32 [B, S, S, 3] in [0, 1], cropped by `crop_matrices`.
        crop_matrices: float32 [B, 3, 3]. Original px -> input px.
        flip_pairs: (left, right) joint index pairs; needed for the flip test.
        flip_test: bool. Average with the mirrored image (needs `flip_pairs`).

    Returns:
        keypoints float32 [B, K, 2] and scores float32 [B, K].
    """
    images = tf.convert_to_tensor(images, tf.float32)
    if flip_test and flip_pairs is None:
        raise ValueError("flip_test needs flip_pairs (the joint set's left/right)")
    if flip_test:
        heatmaps = flip_test_heatmaps(model, images, flip_pairs)
    else:
        heatmaps = model_heatmaps(model, images)
    input_size = images.shape[1] or tf.shape(images)[1]
    return heatmaps_to_image_keypoints(heatmaps, crop_matrices, input_size)
