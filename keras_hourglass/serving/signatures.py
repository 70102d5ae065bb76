"""The functions behind the exported SavedModel's signatures.

Signatures (N images, K joints, S input side, h heatmap side):

- `serving_default`: `images` string [N] (encoded JPEG/PNG) and `boxes`
  float32 [N, 4] (x, y, w, h; w <= 0 or h <= 0: the whole image) ->
  `keypoints` float32 [N, K, 2] (original image px), `scores` float32 [N, K].
- `whole_image`: `images` string [N] -> as `serving_default`.
- `heatmaps`: `images` float32 [N, S, S, 3] in [0, 1], already cropped ->
  `heatmaps` float32 [N, h, h, K] (last stack) and `stack{i}_heatmaps`.
- `metadata`: no input -> `metadata_json` string, `input_size` and
  `num_joints` int32.

`serving_default` decodes, crops (`serving.inputs`), runs the network (with
the flip test when exported so) and decodes the peaks (`decoding`), all in
the graph; `heatmaps` is the bare network on the client's own crops.
"""

import json
import logging

import tensorflow as tf

from keras_hourglass.decoding import predict_keypoints
from keras_hourglass.decoding import stack_heatmaps_list
from keras_hourglass.model import joint_count
from keras_hourglass.saving import checked_joint_set_record
from keras_hourglass.serving.inputs import crop_encoded_images
from keras_hourglass.transforms import CROP_CONVENTION_KEY
from keras_hourglass.transforms import OFFICIAL_TORCH
from keras_hourglass.transforms import crop_convention_from_metadata

# Inputs outside [0, 1] by more than this mean 0..255 pixels were sent.
PIXEL_RANGE_TOLERANCE = 1e-3


def model_input_size(model):
    """The side S of a model's square input (S, S, 3)."""
    height, width, channels = model.input_shape[1:]
    if height is None or height != width or channels != 3:
        raise ValueError(
            f"export needs a fixed square RGB input, got {model.input_shape}"
        )
    return int(height)


def build_export_metadata(model, joint_set, flip_test, crop_convention=OFFICIAL_TORCH):
    """The export's metadata (JSON-serialisable): programs cropping for the
    `heatmaps` signature read the model's `crop_convention` back from it."""
    return {
        "format_version": 1,
        "model_name": model.name,
        **checked_joint_set_record(joint_set, model),
        "num_joints": joint_count(model),
        "input_size": model_input_size(model),
        "heatmap_outputs": list(model.output_names),
        "flip_test": bool(flip_test),
        "box_convention": (
            "boxes are (x, y, w, h) in original image px with pixel edges at "
            "integers; w <= 0 or h <= 0 means the whole image; crop centre = "
            "box centre, scale = max(w, h) / 200, then the model's crop "
            f"convention: centre moved down {crop_convention.center_shift_y:g}"
            f"*scale px, scale x {crop_convention.scale_factor:g}"
        ),
        CROP_CONVENTION_KEY: crop_convention.to_metadata(),
        "keypoint_convention": "(x, y) original image px, pixel centres at integers",
    }


def make_keypoints_function(model, metadata):
    """Returns `fn(images, boxes) -> {"keypoints", "scores"}` (see above)."""
    input_size = metadata["input_size"]
    flip_pairs = [tuple(pair) for pair in metadata["flip_pairs"]]
    crop_convention = crop_convention_from_metadata(metadata)

    def keypoints(images, boxes):
        crops, matrices = crop_encoded_images(
            images, boxes, input_size, crop_convention
        )
        points, scores = predict_keypoints(
            model, crops, matrices, flip_pairs, flip_test=metadata["flip_test"]
        )
        return {"keypoints": points, "scores": scores}

    return keypoints


def make_heatmaps_function(model, check_inputs=True):
    """Returns `fn(images) -> {"heatmaps", "stack{i}_heatmaps"...}`; without
    `check_inputs` it runs no assertion ops (LiteRT and ONNX have none)."""
    output_names = list(model.output_names)

    def heatmaps(images):
        if check_inputs:  # a 0..255 batch is the usual mistake
            checks = [
                tf.debugging.assert_positive(
                    tf.shape(images)[0], message="images: the batch is empty"
                ),
                tf.debugging.assert_all_finite(
                    images, "images: NaN or inf pixel values"
                ),
                tf.debugging.assert_less_equal(
                    tf.reduce_max(tf.abs(images - 0.5)),
                    0.5 + PIXEL_RANGE_TOLERANCE,
                    message="images: pixel values must be float32 in [0, 1] "
                    "(not 0..255)",
                ),
            ]
            with tf.control_dependencies(checks):
                images = tf.identity(images)
        stacks = stack_heatmaps_list(model(images, training=False))
        outputs = dict(zip(output_names, stacks))
        outputs["heatmaps"] = stacks[-1]
        return outputs

    return heatmaps


def crops_spec(input_size):
    """The `images` input of the `heatmaps` signature: float32 crops."""
    return tf.TensorSpec([None, input_size, input_size, 3], tf.float32, "images")


def signature_endpoints(model, metadata):
    """Returns {signature name: (function, input TensorSpecs)} of the export."""
    keypoints = make_keypoints_function(model, metadata)
    text = json.dumps(metadata, sort_keys=True)

    def whole_image(images):
        boxes = tf.zeros([tf.shape(images)[0], 4], tf.float32)  # w <= 0: whole
        return keypoints(images, boxes)

    def metadata_outputs():
        return {
            "metadata_json": tf.constant(text),
            "input_size": tf.constant(metadata["input_size"], tf.int32),
            "num_joints": tf.constant(metadata["num_joints"], tf.int32),
        }

    images = tf.TensorSpec([None], tf.string, name="images")
    boxes = tf.TensorSpec([None, 4], tf.float32, name="boxes")
    return {
        "serving_default": (keypoints, [images, boxes]),
        "whole_image": (whole_image, [images]),
        "heatmaps": (
            make_heatmaps_function(model),
            [crops_spec(metadata["input_size"])],
        ),
        "metadata": (metadata_outputs, []),
    }


def write_archive(archive, folder):
    """Writes a `keras.export.ExportArchive` as a SavedModel in `folder`,
    without TensorFlow's INFO line naming the temporary folder."""
    tensorflow_logger = tf.get_logger()
    level = tensorflow_logger.level
    tensorflow_logger.setLevel(max(level, logging.WARNING))
    try:
        archive.write_out(str(folder), verbose=False)
    finally:
        tensorflow_logger.setLevel(level)
