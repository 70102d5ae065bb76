"""The three ways `keras_hourglass.predictor` runs a model.

Each backend has `predict(encoded_images, boxes) -> (keypoints [N, K, 2],
scores [N, K])` for N (image, box) pairs and a `joint_set` (None while
unknown). All three run the same graph functions as the exported
`serving_default` signature, so they agree to float precision.
"""

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from keras_hourglass.joint_sets import joint_set_from_metadata
from keras_hourglass.joint_sets import numbered_joint_set
from keras_hourglass.model_sidecar import crop_convention_of_keras_file
from keras_hourglass.serving.client import RestClient
from keras_hourglass.serving.deployment import read_export_metadata
from keras_hourglass.serving.signatures import build_export_metadata
from keras_hourglass.serving.signatures import make_keypoints_function
from keras_hourglass.transforms import OFFICIAL_TORCH


def holds_saved_model(folder):
    """True when `folder` is a SavedModel or holds numbered versions of one."""
    folder = Path(folder)
    return (folder / "saved_model.pb").is_file() or any(folder.glob("*/saved_model.pb"))


def latest_version_dir(model_dir):
    """Returns `model_dir` itself when it is a SavedModel, else its highest
    numeric version folder. Raises FileNotFoundError when there is none."""
    model_dir = Path(model_dir)
    if (model_dir / "saved_model.pb").is_file():
        return model_dir
    versions = [p for p in model_dir.glob("*") if p.name.isdigit() and p.is_dir()]
    versions = [p for p in versions if (p / "saved_model.pb").is_file()]
    if not versions:
        raise FileNotFoundError(f"{model_dir}: no SavedModel version folder inside")
    return max(versions, key=lambda p: int(p.name))


class SavedModelBackend:
    """Runs the `serving_default` signature of an exported version."""

    def __init__(self, model_dir):
        self.version_dir = latest_version_dir(model_dir)
        self.signature = tf.saved_model.load(str(self.version_dir)).signatures[
            "serving_default"
        ]
        self.joint_set = joint_set_from_metadata(
            {**read_export_metadata(self.version_dir), "name": "export"}
        )

    def predict(self, encoded_images, boxes):
        outputs = self.signature(
            images=tf.constant(encoded_images, tf.string),
            boxes=tf.constant(boxes, tf.float32),
        )
        return outputs["keypoints"].numpy(), outputs["scores"].numpy()


class KerasBackend:
    """Runs a Keras model (or `.keras` file) through the export's graph
    functions (decode, crop, network, flip test, peaks, back to image px).

    The crop convention is `crop_convention` when given, else a `.keras`
    file's own (its sidecar's, see `keras_hourglass.model_sidecar`), else ours.
    """

    def __init__(self, model, joint_set=None, flip_test=True, crop_convention=None):
        if not hasattr(model, "outputs"):
            crop_convention = crop_convention or crop_convention_of_keras_file(model)
            model = keras.saving.load_model(Path(model), compile=False)
        num_joints = int(model.outputs[-1].shape[-1])
        self.joint_set = joint_set or numbered_joint_set(num_joints)
        metadata = build_export_metadata(
            model, self.joint_set, flip_test, crop_convention or OFFICIAL_TORCH
        )
        # reduce_retracing: batches of different sizes share one trace.
        self.function = tf.function(
            make_keypoints_function(model, metadata), reduce_retracing=True
        )

    def predict(self, encoded_images, boxes):
        outputs = self.function(
            tf.constant(encoded_images, tf.string), tf.constant(boxes, tf.float32)
        )
        return outputs["keypoints"].numpy(), outputs["scores"].numpy()


class RestBackend:
    """Sends requests to a TF Serving model URL; the joint set is unknown
    (None) unless the caller gives one."""

    def __init__(self, model_url, timeout=60.0):
        self.client = RestClient(model_url, timeout=timeout)
        self.joint_set = None

    def predict(self, encoded_images, boxes):
        return self.client.predict(encoded_images, np.asarray(boxes))
