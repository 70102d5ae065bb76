"""The per-person steps of the input pipeline: check, decode + crop, augment,
encode. Each takes and returns plain tensors so `tf.data` can map it; none
uses `py_function`.

Skipped records are logged to stderr naming the image id and counted in a
`keras_hourglass.data.skips.SkipCounter`, whose variables the graph updates.
"""

import sys

import tensorflow as tf

from keras_hourglass.data.augment import decode_image_region
from keras_hourglass.data.augment import looks_like_complete_image
from keras_hourglass.data.augment import sample_augmentation
from keras_hourglass.data.augment import scale_colours
from keras_hourglass.data.augment import warp_image
from keras_hourglass.data.jpeg_scan import jpeg_body_is_intact
from keras_hourglass.data.tfrecords import check_person
from keras_hourglass.heatmaps import render_heatmaps
from keras_hourglass.transforms import crop_box_from_person
from keras_hourglass.transforms import crop_matrix
from keras_hourglass.transforms import scale_grid_matrix
from keras_hourglass.transforms import swap_left_right
from keras_hourglass.transforms import transform_points


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


def crop_person_image(person, matrix, input_size, skip_counter):
    """Decodes the image region the crop needs and warps it to the input size.

    Raises (inside the graph, caught by the pipeline's `ignore_errors`) when
    the bytes do not decode or the decoded size disagrees with the record, so
    joint coordinates never refer to a different image size.
    """
    started = skip_counter.decodes_started.assign_add(1)
    # libjpeg only warns about a corrupt body; failing here counts the record.
    intact = tf.debugging.Assert(
        jpeg_body_is_intact(person["image_encoded"]),
        ["image", person["image_id"], "has a corrupt JPEG body"],
    )
    with tf.control_dependencies([started, intact]):
        region, region_matrix, image_shape = decode_image_region(
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
        return warp_image(region, region_matrix, input_size)


def person_crop_matrix(person, input_size, augmentation):
    """Returns the original -> input px matrix for a person and augmentation."""
    crop_center, crop_scale = crop_box_from_person(person["center"], person["scale"])
    return crop_matrix(
        crop_center,
        crop_scale * augmentation["scale_multiplier"],
        input_size,
        augmentation["rotation"],
        augmentation["flip"],
    )


def encode_targets(person, matrix, flipped, config):
    """Returns `(heatmaps [h, w, K], weights [K], joints in heatmap px [K, 2])`.

    A flipped crop mirrors every joint's position; swapping the left/right
    entries afterwards makes e.g. channel "left wrist" follow the wrist that
    now appears on the left side.
    """
    num_joints = config["num_joints"]
    heatmap_matrix = tf.linalg.matmul(
        scale_grid_matrix(config["input_size"], config["output_size"]), matrix
    )
    joints = tf.ensure_shape(
        tf.reshape(person["joints"], [num_joints, 2]), [num_joints, 2]
    )
    joints_out = transform_points(joints, heatmap_matrix)
    annotated = tf.reshape(person["joints_annotated"], [num_joints])
    pairs = config["flip_pairs"]
    joints_out, annotated = tf.cond(
        flipped,
        lambda: (
            swap_left_right(joints_out, pairs, 0),
            swap_left_right(annotated, pairs, 0),
        ),
        lambda: (joints_out, annotated),
    )
    heatmaps, weights = render_heatmaps(
        joints_out, annotated, config["output_size"], config["sigma"]
    )
    return heatmaps, weights, joints_out, heatmap_matrix


def prepare_training_example(person, seed, config, skip_counter):
    """Crop, augment (when `config["augmentation"]` is a dict of ranges) and
    encode one person. Returns a dict with `image`, `heatmaps`, `weights`,
    `joints_out` and `heatmap_matrix` (original -> heatmap px)."""
    ranges = config["augmentation"]
    if ranges is None:
        augmentation = sample_augmentation(seed, 0.0, 0.0, 0.0, 0.0, (1.0, 1.0))
    else:
        augmentation = sample_augmentation(seed, **ranges)
    matrix = person_crop_matrix(person, config["input_size"], augmentation)
    image = crop_person_image(person, matrix, config["input_size"], skip_counter)
    image = scale_colours(image, augmentation["color_gains"])
    heatmaps, weights, joints_out, heatmap_matrix = encode_targets(
        person, matrix, augmentation["flip"], config
    )
    outputs = {
        "image": image,
        "heatmaps": heatmaps,
        "weights": weights,
        "joints_out": joints_out,
        "heatmap_matrix": heatmap_matrix,
    }
    return outputs
