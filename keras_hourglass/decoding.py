"""Decoding: from cropped images to keypoints in original image pixels.

Network heatmaps (optionally averaged with the mirrored crop's, flipped
back) -> peaks with the paper's quarter-pixel refinement -> original image px
through the inverse crop matrix. The predictor, evaluation, training and the
exported graph all decode here, so all agree.
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
    """A model's heatmap outputs (a tensor, a list, or a signature's dict) as
    a list, first stack first."""
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
    """The paper's test-time flip: the heatmaps of the images averaged with
    their mirror images', mirrored back with left and right swapped.

    Mirroring a crop mirrors its heatmap grid exactly under the project's
    pixel convention, so no half-pixel shift is needed. Returns what
    `model_heatmaps` does.
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
    """Maps heatmap px [B, K, 2] to original image px, through the inverse of
    `crop_matrices` [B, 3, 3] (original px -> input px of each crop)."""
    to_heatmap = tf.linalg.matmul(
        scale_grid_matrix(input_size, heatmap_size),
        tf.cast(crop_matrices, tf.float32),
    )
    return transform_points(coords, invert_affine(to_heatmap))


def heatmaps_to_image_keypoints(heatmaps, crop_matrices, input_size):
    """Decodes heatmaps [B, h, w, K] into keypoints [B, K, 2] in original
    image px and scores [B, K] (the peak values)."""
    heatmaps = tf.convert_to_tensor(heatmaps, tf.float32)
    coords, scores = decode_heatmaps(heatmaps)
    heatmap_size = tf.shape(heatmaps)[1]
    keypoints = heatmap_coords_to_image(coords, crop_matrices, input_size, heatmap_size)
    return keypoints, scores


def predict_keypoints(model, images, crop_matrices, flip_pairs=None, flip_test=True):
    """Keypoints [B, K, 2] in original image px and scores [B, K] of person
    crops [B, S, S, 3] in [0, 1] cut by `crop_matrices` (the flip test
    needs the joint set's `flip_pairs`)."""
    images = tf.convert_to_tensor(images, tf.float32)
    if flip_test and flip_pairs is None:
        raise ValueError("flip_test needs flip_pairs (the joint set's left/right)")
    if flip_test:
        heatmaps = flip_test_heatmaps(model, images, flip_pairs)
    else:
        heatmaps = model_heatmaps(model, images)
    input_size = images.shape[1] or tf.shape(images)[1]
    return heatmaps_to_image_keypoints(heatmaps, crop_matrices, input_size)
