"""PCKh@0.5 of every stack on a fixed validation subset after each epoch, in
original image pixels as the MPII evaluation scores it (or torso / box PCK
with other normalisers), and heatmap images for TensorBoard.
"""

import logging

import keras
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from evaluation.metrics import normalized_distances
from keras_hourglass.data.pipeline import make_eval_dataset
from keras_hourglass.decoding import heatmap_coords_to_input
from keras_hourglass.decoding import heatmaps_to_image_keypoints
from keras_hourglass.decoding import stack_heatmaps_list
from keras_hourglass.drawing import draw_poses
from keras_hourglass.drawing import draw_truth_beside_prediction
from keras_hourglass.heatmaps import decode_heatmaps
from keras_hourglass.model import stack_index_of_output
from keras_hourglass.transforms import transform_points

logger = logging.getLogger(__name__)


def pckh_percent(predicted, joints, annotated, normalizers, threshold=0.5,
                 hit_at_threshold=False):  # fmt: skip
    """PCK over all annotated joints in percent (NaN without any): a hit is
    `distance < threshold x normaliser`, or `<=` with `hit_at_threshold`."""
    annotated = np.asarray(annotated, dtype=bool)
    distances = normalized_distances(predicted, joints, normalizers)
    within = distances <= threshold if hit_at_threshold else distances < threshold
    hits = within & annotated
    total = annotated.sum()
    return float(100.0 * hits.sum() / total) if total else float("nan")


def head_normalizers(joints, annotated, meta):
    """The PCKh normaliser each person's record carries (<= 0: none)."""
    return meta["normalizer"].numpy()


def load_validation_subset(
    files, num_joints, input_size, count, batch_size=16,
    normalizers_of=head_normalizers, normalizer_name="head size",
):  # fmt: skip
    """Reads the first `count` validation people with a normaliser (finite,
    > 0) into NumPy arrays: `images`, `joints`, `annotated`, `normalizers`,
    `crop_matrices`; the others are skipped and counted."""
    dataset = make_eval_dataset(
        files, num_joints, batch_size=batch_size, input_size=input_size
    )
    parts = {key: [] for key in ("images", "joints", "annotated", "normalizers")}
    parts["crop_matrices"] = []
    kept, skipped = 0, 0
    progress = tqdm(total=count, desc="validation subset", unit="person", leave=False)
    for images, meta in dataset:
        joints = meta["joints"].numpy()
        annotated = meta["joints_annotated"].numpy() > 0
        normalizers = np.asarray(normalizers_of(joints, annotated, meta))
        usable = np.isfinite(normalizers) & (normalizers > 0)
        skipped += int((~usable).sum())
        take = np.flatnonzero(usable)[: count - kept]
        parts["images"].append(images.numpy()[take])
        parts["joints"].append(joints[take])
        parts["annotated"].append(annotated[take])
        parts["normalizers"].append(normalizers[take])
        parts["crop_matrices"].append(meta["crop_matrix"].numpy()[take])
        kept += len(take)
        progress.update(len(take))
        if kept >= count:
            break
    progress.close()
    if skipped:
        logger.warning(
            "validation: skipped %d people without a %s", skipped, normalizer_name
        )
    if kept == 0:
        raise ValueError(f"no validation person with a {normalizer_name} in {files}")
    return {key: np.concatenate(value) for key, value in parts.items()}


def predict_in_batches(model, images, batch_size=16):
    """Every output of `model` on `images` as NumPy arrays; not `predict`,
    which under `MultiWorkerMirroredStrategy` runs a collective the other
    workers do not join (the job would hang)."""
    chunks = []
    for start in range(0, len(images), batch_size):
        outputs = stack_heatmaps_list(
            model(images[start : start + batch_size], training=False)
        )
        chunks.append([keras.ops.convert_to_numpy(output) for output in outputs])
    return [np.concatenate(parts) for parts in zip(*chunks)]


class PckhValidation(keras.callbacks.Callback):
    """Adds `val_pckh_stack{i}` and `val_pckh` (last stack) to the epoch logs;
    `log_name` "pck" or "box_pck" for a subset with those normalisers."""

    def __init__(self, subset, threshold=0.5, batch_size=16, log_name="pckh",
                 hit_at_threshold=False):  # fmt: skip
        super().__init__()
        self.hit_at_threshold = hit_at_threshold
        self.subset = subset
        self.threshold = threshold
        self.batch_size = batch_size
        self.log_name = log_name

    def stack_pckh(self, stack_heatmaps):
        """PCKh in percent of one stack's predicted heatmaps [N, h, w, K]."""
        predicted, _ = heatmaps_to_image_keypoints(
            stack_heatmaps, self.subset["crop_matrices"], self.subset["images"].shape[1]
        )
        return pckh_percent(
            np.asarray(predicted, dtype=np.float64),
            self.subset["joints"],
            self.subset["annotated"],
            self.subset["normalizers"],
            self.threshold,
            self.hit_at_threshold,
        )

    def compute_logs(self):
        """Returns {`val_pckh_stack{i}`: percent, ..., `val_pckh`: last}."""
        outputs = predict_in_batches(self.model, self.subset["images"], self.batch_size)
        logs = {}
        # Named by the output, so a model without intermediate supervision
        # logs its one stack as the last.
        for name, heatmaps in zip(self.model.output_names, outputs):
            stack = stack_index_of_output(name)
            logs[f"val_{self.log_name}_stack{stack}"] = self.stack_pckh(heatmaps)
        logs[f"val_{self.log_name}"] = list(logs.values())[-1]
        return logs

    def on_epoch_end(self, epoch, logs=None):
        computed = self.compute_logs()
        if logs is not None:
            logs.update(computed)
        shown = ", ".join(f"{name} {value:.1f}" for name, value in computed.items())
        # Keras's progress bar (verbose 1) leaves its line open until later.
        progress_bar_open = (self.params or {}).get("verbose") in (1, "auto")
        line_start = "\n" if progress_bar_open else ""
        print(f"{line_start}epoch {epoch + 1}: {shown}")


def overlay_prediction(image, heatmaps, skeleton, joint_names=None,
                       true_keypoints=None, true_annotated=None):  # fmt: skip
    """Image [S, S, 3] in [0, 1] blended with the maximum heatmap and decoded
    skeleton, with the ground truth (`true_keypoints` [K, 2], crop px) left."""
    size = image.shape[0]
    peak = np.clip(heatmaps.max(axis=-1), 0.0, 1.0)
    peak = np.kron(peak, np.ones((size // peak.shape[0],) * 2))  # nearest upsampling
    heat = peak[..., None] * np.array([1.0, 0.8, 0.0])
    canvas = np.clip(0.6 * image + 0.6 * heat, 0.0, 1.0).astype(np.float32)
    coords, scores = decode_heatmaps(heatmaps[None])
    coords = keras.ops.convert_to_numpy(coords)[0]
    points = np.asarray(heatmap_coords_to_input(coords, size, heatmaps.shape[0]))
    scores = keras.ops.convert_to_numpy(scores)
    names = joint_names or [f"joint{i}" for i in range(heatmaps.shape[-1])]
    drawn = draw_poses(canvas, points[None], names, skeleton, scores=scores,
                       labels=[""])  # fmt: skip
    if true_keypoints is not None:
        overlay, drawn = drawn, draw_truth_beside_prediction(
            image, np.asarray(true_keypoints)[None], np.asarray(true_annotated)[None],
            points[None], scores, names, skeleton, titles=("truth", "prediction"),
        )  # fmt: skip
        drawn[-size:, -size:] = overlay
    return drawn.astype(np.float32) / 255.0


class HeatmapImageSummary(keras.callbacks.Callback):
    """Writes `validation/prediction` images (last stack) of the first `count`
    people of a validation subset to `log_dir` each epoch, beside their truth."""

    def __init__(self, subset, count, log_dir, joint_set):
        super().__init__()
        people = {key: value[:count] for key, value in subset.items()}
        self.images = np.asarray(people["images"], dtype=np.float32)
        truth = transform_points(people["joints"], people["crop_matrices"])
        self.truth = list(zip(truth.numpy(), people["annotated"]))
        self.log_dir = str(log_dir)
        self.joint_set = joint_set
        self._writer = None

    def on_epoch_end(self, epoch, logs=None):
        # Called directly, not `predict`: see `predict_in_batches`.
        last = stack_heatmaps_list(self.model(self.images, training=False))[-1]
        skeleton, names = self.joint_set.skeleton, self.joint_set.joint_names
        drawn = np.stack(
            [
                overlay_prediction(image, heatmaps, skeleton, names, *truth)
                for image, heatmaps, truth in zip(
                    self.images, keras.ops.convert_to_numpy(last), self.truth
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
