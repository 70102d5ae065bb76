"""Keypoint predictors behind `evaluation.predict`: one interface for a
SavedModel export, a `.keras` model (or run directory) and a TF Serving URL.

Each has `predict(encoded_images, boxes) -> (keypoints [N, K, 2], scores
[N, K])` and a `joint_set`; boxes follow `keras_hourglass.serving.inputs`
((x, y, w, h), pixel edges at integers; zeros: the whole image).
"""

from pathlib import Path

import numpy as np
import tensorflow as tf

from keras_hourglass.joint_sets import JointSet
from keras_hourglass.serving.client import RestClient
from keras_hourglass.serving.deployment import read_export_metadata
from keras_hourglass.serving.export import builtin_joint_set
from keras_hourglass.serving.export import joint_set_for_run
from keras_hourglass.serving.export import joint_set_from_metadata
from keras_hourglass.serving.export import load_keras_model
from keras_hourglass.serving.signatures import build_metadata
from keras_hourglass.serving.signatures import make_keypoints_function


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


def joint_set_or_numbered(num_joints):
    """Returns the built-in set with `num_joints` joints, or numbered joints
    without a skeleton when there is none."""
    try:
        return builtin_joint_set(num_joints)
    except ValueError:
        names = tuple(f"joint{index}" for index in range(num_joints))
        return JointSet("custom", names, (), ())


class SavedModelPredictor:
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


class KerasPredictor:
    """Runs a `.keras` model through the same graph functions as the export."""

    def __init__(self, model_path, flip_test=True):
        model = load_keras_model(model_path)
        num_joints = int(model.outputs[-1].shape[-1])
        self.joint_set = joint_set_for_run(model_path, num_joints)
        metadata = build_metadata(model, self.joint_set, flip_test)
        self.function = tf.function(make_keypoints_function(model, metadata))

    def predict(self, encoded_images, boxes):
        outputs = self.function(
            tf.constant(encoded_images, tf.string), tf.constant(boxes, tf.float32)
        )
        return outputs["keypoints"].numpy(), outputs["scores"].numpy()


class RestPredictor:
    """Sends requests to a TF Serving model URL."""

    def __init__(self, model_url, timeout=60.0):
        self.client = RestClient(model_url, timeout=timeout)
        self.joint_set = None

    def predict(self, encoded_images, boxes):
        keypoints, scores = self.client.predict(encoded_images, np.asarray(boxes))
        if self.joint_set is None:
            self.joint_set = joint_set_or_numbered(keypoints.shape[1])
        return keypoints, scores


def make_predictor(model, flip_test=True):
    """Returns the predictor for a URL, a SavedModel folder, or a `.keras`
    file / run directory."""
    text = str(model)
    if text.startswith(("http://", "https://")):
        return RestPredictor(text)
    path = Path(model)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such model")
    if path.is_dir() and (
        (path / "saved_model.pb").is_file() or any(path.glob("*/saved_model.pb"))
    ):
        return SavedModelPredictor(path)
    return KerasPredictor(path, flip_test=flip_test)
