"""One person's record -> one model example, for training and for evaluation.

Read top to bottom, these are the paper's per-sample steps (pose-hg-train
`src/util/pose.lua`, `generateSample`):

    sample_augmentation         draw scale, rotation, flip and colour gains
    prepare_training_example    crop matrix -> decode and warp the crop ->
                                Gaussian heatmap targets
    prepare_eval_example        the reference crop, no augmentation, labels kept

Random augmentation: the scale is multiplied by `2 ** clip(N(0, 1) * 0.25,
-0.5, 0.5)`, the rotation is `clip(N(0, 1) * 30, -60, 60)` degrees applied with
probability 0.4, the crop is mirrored with probability 0.5 (left/right joints
swapped), each colour channel is multiplied by U(0.6, 1.4) and clipped to
[0, 1], and there is no translation. Randomness is stateless: every sample gets
its own seed, so a fixed pipeline seed reproduces every crop.

Every step maps plain tensors to plain tensors (no `py_function`); a record that
makes a step raise in the graph is dropped and counted by the pipeline.
"""

from dataclasses import dataclass

import tensorflow as tf

from keras_hourglass.data.decode import decode_image_region
from keras_hourglass.data.decode import warp_and_scale_colours
from keras_hourglass.data.decode import warp_image
from keras_hourglass.heatmaps import render_heatmaps
from keras_hourglass.transforms import OFFICIAL_TORCH
from keras_hourglass.transforms import invert_affine
from keras_hourglass.transforms import person_crop_matrix
from keras_hourglass.transforms import scale_grid_matrix
from keras_hourglass.transforms import swap_left_right
from keras_hourglass.transforms import transform_points

# === Augmentation ===


@dataclass(frozen=True)
class AugmentationRanges:
    """The random augmentation's ranges (module doc), pose-hg-train's by default;
    `scale_factor` and `rotation_degrees` are std devs, clipped at 2 std."""

    scale_factor: float = 0.25
    rotation_degrees: float = 30.0
    rotation_probability: float = 0.4
    flip_probability: float = 0.5
    color_range: tuple = (0.6, 1.4)


# The paper's (pose-hg-train's) ranges, and none at all (no zoom, rotation,
# flip or colour change: validation's "augmentation").
PAPER_AUGMENTATION = AugmentationRanges()
NO_AUGMENTATION = AugmentationRanges(0.0, 0.0, 0.0, 0.0, (1.0, 1.0))


def sample_augmentation(seed, ranges=PAPER_AUGMENTATION):
    """Draws one sample's augmentation from a stateless `seed` (int [2]):
    {`scale_multiplier`, `rotation` (degrees), `flip`, `color_gains` [3]}."""
    seeds = tf.random.experimental.stateless_split(seed, num=5)
    scale_normal = tf.random.stateless_normal([], seeds[0])
    scale_factor = ranges.scale_factor
    scale_exponent = tf.clip_by_value(
        scale_normal * scale_factor, -2.0 * scale_factor, 2.0 * scale_factor
    )
    angle = tf.clip_by_value(
        tf.random.stateless_normal([], seeds[1]) * ranges.rotation_degrees,
        -2.0 * ranges.rotation_degrees,
        2.0 * ranges.rotation_degrees,
    )
    rotate = tf.random.stateless_uniform([], seeds[2]) < ranges.rotation_probability
    flip = tf.random.stateless_uniform([], seeds[3]) < ranges.flip_probability
    low, high = ranges.color_range
    gains = tf.random.stateless_uniform([3], seeds[4], minval=low, maxval=high)
    return {
        "scale_multiplier": tf.pow(2.0, scale_exponent),
        "rotation": tf.where(rotate, angle, 0.0),
        "flip": flip,
        "color_gains": gains,
    }


# === Cropping and encoding ===


def decode_crop_region(person, matrix, input_size, dct_scaling):
    """`decode_image_region`'s `(region, region_matrix)` of a record's image;
    raises in the graph when the image is not the size its record states."""
    region, region_matrix, image_shape = decode_image_region(
        person["image_encoded"], matrix, input_size, dct_scaling
    )
    stored_shape = tf.stack([person["image_height"], person["image_width"]])
    size_check = tf.debugging.Assert(
        tf.reduce_all(tf.equal(image_shape, stored_shape)),
        ["image", person["image_id"], "decodes to", image_shape,
         "record says", stored_shape],
    )  # fmt: skip
    with tf.control_dependencies([size_check]):
        return tf.identity(region), region_matrix


def crop_reference_image(person, matrix, input_size):
    """The reference crop, at full decode resolution, that evaluation and
    serving take (`serving.inputs` cuts the same one from request bytes)."""
    region, region_matrix = decode_crop_region(person, matrix, input_size, False)
    return warp_image(region, region_matrix, input_size)


def crop_training_image(person, matrix, input_size, gains):
    """The training crop: decodes the region at the coarsest DCT scale still
    as fine as the input, warps it and applies the colour gains in one pass.
    Returns `(image, applied matrix)`: an unrotated crop is resized from whole
    pixels (under half a source px off `matrix`), so targets use the applied one.
    """
    region, region_matrix = decode_crop_region(person, matrix, input_size, True)
    image, applied_region_matrix = warp_and_scale_colours(
        region, region_matrix, input_size, gains
    )
    # The same correction in input px turns `matrix` into the applied one.
    correction = tf.linalg.matmul(applied_region_matrix, invert_affine(region_matrix))
    return image, tf.linalg.matmul(correction, matrix)


def encode_targets(
    person, matrix, flipped, num_joints, flip_pairs, input_size, output_size, sigma
):
    """Returns `(heatmaps [h, w, K], weights [K], heatmap_matrix)` (original
    px -> heatmap px). A flipped crop also swaps left/right entries, so channel
    "left wrist" follows the wrist that now appears on the left."""
    heatmap_matrix = tf.linalg.matmul(
        scale_grid_matrix(input_size, output_size), matrix
    )
    joints = tf.ensure_shape(
        tf.reshape(person["joints"], [num_joints, 2]), [num_joints, 2]
    )
    joints_out = transform_points(joints, heatmap_matrix)
    annotated = tf.reshape(person["joints_annotated"], [num_joints])
    joints_out, annotated = tf.cond(
        flipped,
        lambda: (
            swap_left_right(joints_out, flip_pairs, 0),
            swap_left_right(annotated, flip_pairs, 0),
        ),
        lambda: (joints_out, annotated),
    )
    heatmaps, weights = render_heatmaps(joints_out, annotated, output_size, sigma)
    return heatmaps, weights, heatmap_matrix


# === The two examples, side by side ===


def prepare_training_example(
    person, augmentation, *, num_joints, flip_pairs, input_size=256,
    output_size=64, sigma=1.0,
):  # fmt: skip
    """Crops, augments (`sample_augmentation`'s dict) and encodes one parsed
    person; returns {`image` [S, S, 3] in [0, 1], `heatmaps`, `weights`,
    `heatmap_matrix`} (`encode_targets`)."""
    matrix = person_crop_matrix(
        person["center"],
        person["scale"],
        input_size,
        augmentation["scale_multiplier"],
        augmentation["rotation"],
        augmentation["flip"],
    )
    image, matrix = crop_training_image(
        person, matrix, input_size, augmentation["color_gains"]
    )
    heatmaps, weights, heatmap_matrix = encode_targets(
        person, matrix, augmentation["flip"], num_joints, flip_pairs,
        input_size, output_size, sigma,
    )  # fmt: skip
    return {
        "image": image,
        "heatmaps": heatmaps,
        "weights": weights,
        "heatmap_matrix": heatmap_matrix,
    }


def prepare_eval_example(person, *, num_joints, input_size=256,
                         crop_convention=OFFICIAL_TORCH):  # fmt: skip
    """Crops one person without augmentation, the evaluated model's way;
    returns `(image, meta)` (see `pipeline.make_eval_dataset`)."""
    matrix = person_crop_matrix(
        person["center"], person["scale"], input_size, convention=crop_convention
    )
    image = crop_reference_image(person, matrix, input_size)
    meta = {
        "center": person["center"],
        "scale": person["scale"],
        "crop_matrix": matrix,
        "joints": tf.reshape(person["joints"], [num_joints, 2]),
        "joints_annotated": tf.reshape(person["joints_annotated"], [num_joints]),
        "joints_visible": tf.reshape(person["joints_visible"], [num_joints]),
        "head_box": person["head_box"],
        "normalizer": person["normalizer"],
        "image_id": person["image_id"],
        "person_index": person["person_index"],
    }
    return image, meta
