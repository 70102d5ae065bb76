"""TensorBoard images of predicted heatmaps and skeletons on a few validation
samples, written with `tf.summary.image` after every epoch."""

import keras
import numpy as np
import tensorflow as tf

from keras_hourglass.decoding import heatmap_coords_to_input
from keras_hourglass.drawing import draw_poses
from keras_hourglass.drawing import draw_truth_beside_prediction
from keras_hourglass.heatmaps import decode_heatmaps
from keras_hourglass.joint_sets import BUILT_IN_JOINT_SETS


def upsample_nearest(heatmap, size):
    """Repeats a square [h, w] map up to [size, size] (size a multiple of h)."""
    factor = size // heatmap.shape[0]
    return np.repeat(np.repeat(heatmap, factor, axis=0), factor, axis=1)


def overlay_prediction(image, heatmaps, skeleton, joint_names=None,
                       true_keypoints=None, true_annotated=None):  # fmt: skip
    """Returns image [S, S, 3] in [0, 1] blended with the joints' maximum
    heatmap and the decoded skeleton (drawn by `keras_hourglass.drawing`),
    with the ground truth on its left when `true_keypoints` [K, 2] (crop px)
    are given."""
    size = image.shape[0]
    peak = np.clip(heatmaps.max(axis=-1), 0.0, 1.0)
    heat = upsample_nearest(peak, size)[..., None] * np.array([1.0, 0.8, 0.0])
    canvas = np.clip(0.6 * image + 0.6 * heat, 0.0, 1.0).astype(np.float32)
    coords, scores = decode_heatmaps(heatmaps[None])
    coords = keras.ops.convert_to_numpy(coords)[0]
    points = np.asarray(heatmap_coords_to_input(coords, size, heatmaps.shape[0]))
    scores = keras.ops.convert_to_numpy(scores)
    names = (
        joint_names
        or builtin_joint_names(skeleton, heatmaps.shape[-1])
        or [f"joint{i}" for i in range(heatmaps.shape[-1])]
    )
    if true_keypoints is None:
        drawn = draw_poses(canvas, points[None], names, skeleton, scores=scores,
                           labels=[""])  # fmt: skip
    else:
        drawn = draw_truth_beside_prediction(
            image, np.asarray(true_keypoints)[None], np.asarray(true_annotated)[None],
            points[None], scores, names, skeleton, titles=("truth", "prediction"),
        )  # fmt: skip
        drawn[-size:, -size:] = draw_poses(
            canvas, points[None], names, skeleton, scores=scores, labels=[""]
        )
    return drawn.astype(np.float32) / 255.0


def crop_ground_truth(subset, count):
    """Returns (joints in crop px [N, K, 2], annotated [N, K]) of the first
    `count` people of a validation subset (`load_validation_subset`)."""
    joints = np.asarray(subset["joints"][:count], np.float64)
    matrices = np.asarray(subset["crop_matrices"][:count], np.float64)
    crop = (
        np.einsum("nij,nkj->nki", matrices[:, :2, :2], joints)
        + matrices[:, None, :2, 2]
    )
    return crop, np.asarray(subset["annotated"][:count], np.float64)


def builtin_joint_names(skeleton, num_joints):
    """The names of the built-in joint set with this skeleton and joint count
    (so TensorBoard can shade left and right), or None."""
    for joint_set in BUILT_IN_JOINT_SETS.values():
        if joint_set.num_joints == num_joints and set(joint_set.skeleton) == set(
            skeleton
        ):
            return list(joint_set.joint_names)
    return None


class HeatmapImageSummary(keras.callbacks.Callback):
    """Writes `validation/prediction` images (last stack) to `log_dir` each epoch.

    Args:
        images: float [N, S, S, 3] in [0, 1]. A few fixed validation crops.
        log_dir: str. TensorBoard directory (e.g. `run/logs/images`).
        skeleton: list of (joint, joint) pairs drawn as bones.
        joint_names: K names (left/right shades) or None.
        true_keypoints: [N, K, 2] ground truth in crop px, or None; shown
            beside each prediction.
        true_annotated: [N, K], 1 where the joint is annotated.
    """

    def __init__(self, images, log_dir, skeleton=(), joint_names=None,
                 true_keypoints=None, true_annotated=None):  # fmt: skip
        super().__init__()
        self.images = np.asarray(images, dtype=np.float32)
        self.log_dir = str(log_dir)
        self.skeleton = [tuple(edge) for edge in skeleton]
        self.joint_names = joint_names
        self.truth = None
        if true_keypoints is not None:
            self.truth = list(zip(true_keypoints, true_annotated))
        self._writer = None

    def on_epoch_end(self, epoch, logs=None):
        if len(self.images) == 0:
            return
        # Called directly, not `predict`: see `pckh_validation.predict_in_batches`.
        outputs = self.model(self.images, training=False)
        last = outputs[-1] if isinstance(outputs, list | tuple) else outputs
        truth = self.truth or [(None, None)] * len(self.images)
        drawn = np.stack(
            [
                overlay_prediction(
                    image, heatmaps, self.skeleton, self.joint_names, *true_pair
                )  # fmt: skip
                for image, heatmaps, true_pair in zip(
                    self.images, keras.ops.convert_to_numpy(last), truth
                )
            ]
        )
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        with self._writer.as_default():
            tf.summary.image(
                "validation/prediction", drawn, step=epoch, max_outputs=len(drawn)
            )
        self._writer.flush()
