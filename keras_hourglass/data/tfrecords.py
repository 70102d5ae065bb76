"""The TFRecord schema: one `tf.train.Example` per annotated person.

Every converter writes, and the input pipeline reads, exactly these features
(K is the dataset's joint count, given by the metadata JSON beside the shards):

| key                     | type      | meaning                                      |
|-------------------------|-----------|----------------------------------------------|
| image/encoded           | bytes     | the original JPEG or PNG file, unchanged     |
| image/format            | bytes     | jpeg or png                                  |
| image/height            | int64     | original image height in pixels              |
| image/width             | int64     | original image width in pixels               |
| image/id                | bytes     | image file name or dataset id                |
| person/index            | int64     | the person's index within its image          |
| person/num_joints       | int64     | K, so that a wrong joint count is caught     |
| person/joints           | float, 2K | x0, y0, x1, y1, ... in original image pixels |
| person/joints_annotated | int64, K  | 1 where the joint is annotated               |
| person/joints_visible   | int64, K  | 1 where the joint is visible (not occluded)  |
| person/center           | float, 2  | person centre x, y (MPII objpos convention)  |
| person/scale            | float     | person height / 200 px (field's convention)  |
| person/head_box         | float, 4  | x1, y1, x2, y2; all -1 when unknown          |
| person/normalizer       | float     | PCKh normaliser (0.6 x head-box diagonal)    |
|                         |           | or -1 when unknown                           |

Coordinates have pixel centres at integers; unannotated joints are (0, 0).
Centre and scale are as the dataset gives them (MPII `objpos` and `scale`);
only `transforms.crop_box_from_person` applies the crop convention.
"""

import math
import sys

import numpy as np
import tensorflow as tf

from keras_hourglass.data.image_checks import image_is_complete

UNKNOWN = -1.0


def _bytes(values):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))


def _floats(values):
    return tf.train.Feature(float_list=tf.train.FloatList(value=values))


def _ints(values):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=values))


# Records store float32: a larger finite float64 would be stored as infinity.
FLOAT32_MAX = float(np.finfo(np.float32).max)


def person_problem(joints, annotated, center, scale, num_joints):
    """Returns why a person (K x 2 `joints`, K `annotated` flags) cannot give
    a correct target (a short reason), or None if usable."""
    if joints.shape != (num_joints, 2) or len(annotated) != num_joints:
        return f"wrong joint count (expected {num_joints})"
    if not np.all(np.isfinite(joints[annotated > 0])):
        return "NaN or infinite joint coordinate"
    if not np.any(annotated):
        return "no annotated joints"
    if len(center) != 2:
        return "centre does not hold 2 values (x, y)"
    if not all(math.isfinite(float(c)) for c in center):
        return "NaN or infinite centre"
    if not (math.isfinite(float(scale)) and float(scale) > 0):
        return "scale not positive and finite"
    values = np.concatenate(
        [joints[annotated > 0].reshape(-1), np.asarray(center, np.float64), [scale]]
    )
    if np.abs(values).max() > FLOAT32_MAX:
        return "value too large for float32"
    return None


def serialize_person(
    image_bytes,
    image_format,
    height,
    width,
    image_id,
    joints,
    annotated,
    visible,
    center,
    scale,
    head_box=None,
    normalizer=None,
    person_index=0,
):
    """Returns one person as serialized `tf.train.Example` bytes; raises
    ValueError naming `image_id` and its `person_problem`, so no shard holds a
    record that would give a silently wrong target."""
    joints = np.asarray(joints, dtype=np.float64)
    annotated = np.asarray(annotated, dtype=np.int64).reshape(-1)
    problem = person_problem(joints, annotated, center, scale, len(annotated))
    if problem:
        raise ValueError(f"image {image_id}: {problem}")
    joints = joints.astype(np.float32)
    joints = np.where(annotated[:, None] > 0, joints, 0.0)
    visible = np.asarray(visible, dtype=np.int64).reshape(-1)
    head_box = [UNKNOWN] * 4 if head_box is None else [float(v) for v in head_box]
    normalizer = UNKNOWN if normalizer is None else float(normalizer)
    if isinstance(image_id, str):
        image_id = image_id.encode()
    if isinstance(image_format, str):
        image_format = image_format.encode()
    feature = {
        "image/encoded": _bytes([bytes(image_bytes)]),
        "image/format": _bytes([image_format]),
        "image/height": _ints([int(height)]),
        "image/width": _ints([int(width)]),
        "image/id": _bytes([image_id]),
        "person/index": _ints([int(person_index)]),
        "person/num_joints": _ints([len(joints)]),
        "person/joints": _floats(joints.reshape(-1).tolist()),
        "person/joints_annotated": _ints(annotated.tolist()),
        "person/joints_visible": _ints(visible.tolist()),
        "person/center": _floats([float(c) for c in center]),
        "person/scale": _floats([float(scale)]),
        "person/head_box": _floats(head_box),
        "person/normalizer": _floats([normalizer]),
    }
    example = tf.train.Example(features=tf.train.Features(feature=feature))
    return example.SerializeToString()


# Variable-length joint lists let a record with the wrong joint count parse and
# be reported.
FEATURE_SPEC = {
    "image/encoded": tf.io.FixedLenFeature([], tf.string),
    "image/format": tf.io.FixedLenFeature([], tf.string, default_value=""),
    "image/height": tf.io.FixedLenFeature([], tf.int64),
    "image/width": tf.io.FixedLenFeature([], tf.int64),
    "image/id": tf.io.FixedLenFeature([], tf.string, default_value=""),
    "person/index": tf.io.FixedLenFeature([], tf.int64, default_value=0),
    "person/num_joints": tf.io.FixedLenFeature([], tf.int64),
    "person/joints": tf.io.VarLenFeature(tf.float32),
    "person/joints_annotated": tf.io.VarLenFeature(tf.int64),
    "person/joints_visible": tf.io.VarLenFeature(tf.int64),
    "person/center": tf.io.FixedLenFeature([2], tf.float32),
    "person/scale": tf.io.FixedLenFeature([], tf.float32),
    "person/head_box": tf.io.FixedLenFeature([4], tf.float32, [UNKNOWN] * 4),
    "person/normalizer": tf.io.FixedLenFeature([], tf.float32, UNKNOWN),
}


def parse_person(serialized):
    """Parses one serialized record into a dict of dense tensors, joint
    arrays at their stored length (`check_person` tells if it is usable)."""
    parsed = tf.io.parse_single_example(serialized, FEATURE_SPEC)
    joints = tf.sparse.to_dense(parsed["person/joints"])
    return {
        "image_encoded": parsed["image/encoded"],
        "image_format": parsed["image/format"],
        "image_height": tf.cast(parsed["image/height"], tf.int32),
        "image_width": tf.cast(parsed["image/width"], tf.int32),
        "image_id": parsed["image/id"],
        "person_index": tf.cast(parsed["person/index"], tf.int32),
        "num_joints": tf.cast(parsed["person/num_joints"], tf.int32),
        "joints": tf.reshape(joints, [-1, 2]),
        "joints_annotated": tf.cast(
            tf.sparse.to_dense(parsed["person/joints_annotated"]), tf.float32
        ),
        "joints_visible": tf.cast(
            tf.sparse.to_dense(parsed["person/joints_visible"]), tf.float32
        ),
        "center": parsed["person/center"],
        "scale": parsed["person/scale"],
        "head_box": parsed["person/head_box"],
        "normalizer": parsed["person/normalizer"],
    }


def check_person(person, num_joints):
    """Bool scalar: `num_joints` joints everywhere, finite values (unannotated
    joints are stored as (0, 0)) and a positive scale."""
    checks = [
        tf.equal(person["num_joints"], num_joints),
        tf.equal(tf.shape(person["joints"])[0], num_joints),
        tf.equal(tf.size(person["joints_annotated"]), num_joints),
        tf.equal(tf.size(person["joints_visible"]), num_joints),
        tf.reduce_all(tf.math.is_finite(person["joints"])),
        tf.reduce_all(tf.math.is_finite(person["center"])),
        tf.math.is_finite(person["scale"]),
        person["scale"] > 0.0,
    ]
    return tf.reduce_all(tf.stack(checks))


def checked_person(person, num_joints):
    """Returns `person` once it has passed `check_person` and
    `image_checks.image_is_complete`; otherwise logs the image and raises in
    the graph, so the pipeline drops and counts it."""
    problem = tf.where(
        ~check_person(person, num_joints),
        f"not {num_joints} joints, a NaN/inf value, or a scale <= 0",
        tf.where(
            ~image_is_complete(person["image_encoded"]),
            "image bytes are empty, not JPEG/PNG, truncated or corrupt",
            "",
        ),
    )

    def report():
        logged = tf.print(
            "WARNING keras_hourglass: skipping record of image", person["image_id"],
            "person", person["person_index"], ":", problem, output_stream=sys.stderr,
        )  # fmt: skip
        with tf.control_dependencies([logged]):
            return tf.constant(False)

    usable = tf.cond(tf.equal(problem, ""), lambda: tf.constant(True), report)
    check = tf.debugging.Assert(usable, ["image", person["image_id"], problem])
    with tf.control_dependencies([check]):
        return {key: tf.identity(value) for key, value in person.items()}
