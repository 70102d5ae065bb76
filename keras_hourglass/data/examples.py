"""One person's record -> one model example, for training and for evaluation.

Read top to bottom, these are the per-person steps the input pipeline maps:

    keep_usable_person          check the record (logged, counted skips)
    sample_augmentation         draw scale, rotation, flip and colour gains
    prepare_training_example    crop (+ augment) the image, render heatmaps
    prepare_eval_example        crop without augmentation, keep the labels

Random augmentation follows pose-hg-train `src/util/pose.lua`
(`generateSample`): the scale is multiplied by `2 ** clip(N(0, 1) * 0.25,
-0.5, 0.5)`, the rotation is `clip(N(0, 1) * 30, -60, 60)` degrees applied with
probability 0.4, the crop is mirrored with probability 0.5 (left/right joints
swapped), each colour channel is multiplied by U(0.6, 1.4) and clipped to
[0, 1], and there is no translation. Randomness is stateless: every sample gets
its own seed, so a fixed pipeline seed reproduces every crop.

Every step takes and returns plain tensors so `tf.data` can map it; none uses
`py_function`. Skipped records are logged to stderr naming the image id and
counted in a `keras_hourglass.data.skips.SkipCounter`.
"""

import sys

import tensorflow as tf

from keras_hourglass.data.decode import decode_image_region
from keras_hourglass.data.decode import decode_scaled_image_region
from keras_hourglass.data.decode import looks_like_complete_image
from keras_hourglass.data.decode import warp_and_scale_colours
from keras_hourglass.data.decode import warp_image
from keras_hourglass.data.jpeg_scan import jpeg_body_is_intact
from keras_hourglass.data.tfrecords import check_person
from keras_hourglass.heatmaps import render_heatmaps
from keras_hourglass.transforms import OFFICIAL_TORCH
from keras_hourglass.transforms import invert_affine
from keras_hourglass.transforms import person_crop_matrix
from keras_hourglass.transforms import scale_grid_matrix
from keras_hourglass.transforms import swap_left_right
from keras_hourglass.transforms import transform_points

# === Checking a record ===


def joints_near_image(person, margin_fraction=1.0):
    """Returns a bool scalar: every annotated joint lies within the image grown
    by `margin_fraction` x its larger side (MPII has limbs slightly outside the
    frame; a joint beyond that is a broken annotation)."""
    size = tf.cast(
        tf.stack([person["image_width"], person["image_height"]]), tf.float32
    )
    margin = margin_fraction * tf.reduce_max(size)
    joints = person["joints"]
    inside = tf.logical_and(joints >= -margin, joints <= size - 1.0 + margin)
    annotated = person["joints_annotated"] > 0
    return tf.reduce_all(tf.logical_or(tf.reduce_all(inside, axis=-1), ~annotated))


def _problem_with_person(person, num_joints):
    """Returns a string scalar naming what is wrong with a record, or ""."""

    def later_checks():
        positive_size = tf.logical_and(
            person["image_height"] > 0, person["image_width"] > 0
        )
        return tf.where(
            ~positive_size,
            "image size in the record is not positive",
            tf.where(
                ~joints_near_image(person),
                "an annotated joint lies far outside the image",
                tf.where(
                    ~looks_like_complete_image(person["image_encoded"]),
                    "image bytes are empty, not JPEG/PNG, or truncated",
                    "",
                ),
            ),
        )

    return tf.cond(
        check_person(person, num_joints),
        later_checks,
        lambda: tf.constant(
            f"not {num_joints} joints, a NaN/inf value, or a scale <= 0"
        ),
    )


def keep_usable_person(person, num_joints, skip_counter):
    """Filter predicate: True for a usable record; otherwise logs a warning
    naming the image and person, counts it, and returns False."""
    problem = _problem_with_person(person, num_joints)

    def skip():
        log = tf.print(
            "WARNING keras_hourglass: skipping record of image",
            person["image_id"],
            "person",
            person["person_index"],
            ":",
            problem,
            output_stream=sys.stderr,
        )
        with tf.control_dependencies([log]):
            counted = skip_counter.invalid_records.assign_add(1)
        with tf.control_dependencies([counted]):
            return tf.constant(False)

    return tf.cond(tf.equal(problem, ""), lambda: tf.constant(True), skip)


# === Augmentation ===


def sample_augmentation(
    seed,
    scale_factor=0.25,
    rotation_degrees=30.0,
    rotation_probability=0.4,
    flip_probability=0.5,
    color_range=(0.6, 1.4),
):
    """Draws one sample's augmentation from a stateless `seed` (int [2]).

    All ranges 0 and `color_range=(1, 1)` give the neutral augmentation.

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


def scale_colours(image, gains):
    """Multiplies each channel of a [0, 1] image by its gain, clipped to [0, 1]."""
    return tf.clip_by_value(image * gains, 0.0, 1.0)


# === Cropping and encoding ===


def _decode_checked(person, matrix, input_size, skip_counter, decode):
    """Runs `decode(bytes, matrix, input_size)` -> `(region, region_matrix,
    image_shape)`; the region depends on an assertion that the image decodes
    to the size the record states.

    The assertion raises inside the graph (caught by the pipeline's
    `ignore_errors`) when the bytes do not decode or the sizes disagree, so
    joint coordinates never refer to a different image size.
    """
    started = skip_counter.decodes_started.assign_add(1)
    # libjpeg only warns about a corrupt body; failing here counts the record.
    intact = tf.debugging.Assert(
        jpeg_body_is_intact(person["image_encoded"]),
        ["image", person["image_id"], "has a corrupt JPEG body"],
    )
    with tf.control_dependencies([started, intact]):
        region, region_matrix, image_shape = decode(
            person["image_encoded"], matrix, input_size
        )
    stored_shape = tf.stack([person["image_height"], person["image_width"]])
    size_check = tf.debugging.Assert(
        tf.reduce_all(tf.equal(image_shape, stored_shape)),
        [
            "image",
            person["image_id"],
            "decodes to",
            image_shape,
            "record says",
            stored_shape,
        ],
    )
    with tf.control_dependencies([size_check]):
        return tf.identity(region), region_matrix


def crop_person_image(person, matrix, input_size, skip_counter):
    """Decodes the image region the crop needs at full resolution and warps
    it to the input size (the reference crop; evaluation uses it)."""
    region, region_matrix = _decode_checked(
        person, matrix, input_size, skip_counter, decode_image_region
    )
    return warp_image(region, region_matrix, input_size)


def crop_scaled_person_image(person, matrix, input_size, gains, skip_counter):
    """Decodes the crop region at the coarsest DCT scale that keeps it at
    least as fine as the input, warps it and applies the colour gains in one
    pass: the training crop (benchmarks/pipeline_benchmark.py compares it
    with the reference one).

    Returns `(image, applied matrix)`: the original px -> input px matrix the
    crop really has. An unrotated crop is resized from whole pixels, which
    moves it by under half a source px from `matrix`; the targets are made
    with the applied matrix, so they stay exactly on the image.
    """
    region, region_matrix = _decode_checked(
        person, matrix, input_size, skip_counter, decode_scaled_image_region
    )
    image, applied_region_matrix = warp_and_scale_colours(
        region, region_matrix, input_size, gains
    )
    # The same correction in input px turns `matrix` into the applied one.
    correction = tf.linalg.matmul(applied_region_matrix, invert_affine(region_matrix))
    return image, tf.linalg.matmul(correction, matrix)


def encode_targets(
    person, matrix, flipped, num_joints, flip_pairs, input_size, output_size, sigma
):
    """Returns `(heatmaps [h, w, K], weights [K], heatmap_matrix [3, 3])`, the
    matrix mapping original px to heatmap px.

    A flipped crop mirrors every joint's position; swapping the left/right
    entries afterwards makes e.g. channel "left wrist" follow the wrist that
    now appears on the left side.
    """
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
    person,
    augmentation,
    skip_counter,
    *,
    num_joints,
    flip_pairs,
    input_size=256,
    output_size=64,
    sigma=1.0,
    crop_method="scaled",
):
    """Crops, augments and encodes one person for training.

    Args:
        person: dict of tensors from `tfrecords.parse_person`.
        augmentation: dict from `sample_augmentation`.
        skip_counter: `SkipCounter` counting decodes.
        num_joints: int. K.
        flip_pairs: list of (left, right) joint indices swapped by a flip.
        input_size, output_size: int. Crop and heatmap sides (256, 64).
        sigma: float. Heatmap Gaussian standard deviation in heatmap px.
        crop_method: str. "scaled" (`crop_scaled_person_image`) or
            "reference" (`crop_person_image`). Defaults to "scaled".

    Returns:
        dict with `image` float32 [S, S, 3] in [0, 1], `heatmaps` [h, w, K],
        `weights` [K] and `heatmap_matrix` [3, 3] (original -> heatmap px).
    """
    matrix = person_crop_matrix(
        person["center"],
        person["scale"],
        input_size,
        augmentation["scale_multiplier"],
        augmentation["rotation"],
        augmentation["flip"],
    )
    if crop_method == "scaled":
        image, matrix = crop_scaled_person_image(
            person, matrix, input_size, augmentation["color_gains"], skip_counter
        )
    else:
        image = crop_person_image(person, matrix, input_size, skip_counter)
        image = scale_colours(image, augmentation["color_gains"])
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


def prepare_eval_example(person, skip_counter, *, num_joints, input_size=256,
                         crop_convention=OFFICIAL_TORCH):  # fmt: skip
    """Crops one person without augmentation, the evaluated model's way
    (`crop_convention`); returns `(image, meta)` with the labels the
    evaluation scores against (see `pipeline.make_eval_dataset`).
    """
    matrix = person_crop_matrix(
        person["center"], person["scale"], input_size, convention=crop_convention
    )
    image = crop_person_image(person, matrix, input_size, skip_counter)
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
