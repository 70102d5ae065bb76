"""Running any model `keras_hourglass.saving.load_model` reads over the
evaluation crops, decoded only by the library's decoding (flip test,
quarter-pixel peaks, inverse crop), exactly as the export and training decode.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from evaluation.ground_truth import EvaluationInputError
from keras_hourglass.decoding import flip_test_heatmaps
from keras_hourglass.decoding import heatmaps_to_image_keypoints
from keras_hourglass.decoding import model_heatmaps
from keras_hourglass.model import output_stack_names
from keras_hourglass.saving import load_model
from keras_hourglass.transforms import OFFICIAL_TORCH


@dataclass(frozen=True)
class HeatmapModel:
    """A model reduced to what evaluation needs: `call(images, training=False)`
    returns the per-stack heatmaps [B, h, w, K], first stack first;
    `crop_convention`: converted port weights crop the port's way."""

    call: object
    input_size: int
    num_joints: int
    source: str
    stack_names: tuple = ()
    crop_convention: object = OFFICIAL_TORCH


def export_heatmaps_call(loaded):
    """`call(images)` through an export's `heatmaps` signature."""
    signatures = loaded.export.signatures
    if "heatmaps" not in signatures:
        raise EvaluationInputError(
            f"{loaded.source}: the export has no 'heatmaps' signature "
            f"(found: {sorted(signatures)})"
        )
    signature = signatures["heatmaps"]

    def call(images, training=False):
        results = signature(images=tf.convert_to_tensor(images, tf.float32))
        return [results[key] for key in loaded.output_names]

    return call


def load_heatmap_model(path):
    """Loads any model file or folder as a `HeatmapModel`."""
    if not Path(path).exists():
        raise EvaluationInputError(f"{path}: no such model file or directory")
    try:
        loaded = load_model(path)
    except (FileNotFoundError, ValueError) as error:
        raise EvaluationInputError(f"{path}: no loadable model ({error})") from error
    if loaded.heatmap_file is not None:
        call = loaded.heatmap_file
    elif loaded.export is not None:
        call = export_heatmaps_call(loaded)
    else:
        call = compiled_forward(loaded.keras_model)
    return HeatmapModel(
        call=call,
        input_size=loaded.input_size,
        num_joints=loaded.num_joints,
        source=str(loaded.source),
        stack_names=output_stack_names(loaded.output_names),
        crop_convention=loaded.crop_convention,
    )


def compiled_forward(model):
    """`model(images, training=False)` as one graph: a Keras model called
    eagerly runs op by op, far slower batch by batch."""

    @tf.function(reduce_retracing=True)
    def forward(images, training=False):
        return model(images, training=False)

    return forward


def model_heatmap_source(model_call, flip_pairs, flip_test=True):
    """`source(images, meta)` -> per-stack heatmaps, flip-tested (the paper)."""

    def heatmap_source(images, meta):
        if flip_test:
            return flip_test_heatmaps(model_call, images, flip_pairs, all_stacks=True)
        return model_heatmaps(model_call, images, all_stacks=True)

    return heatmap_source


@dataclass
class EvaluationRun:
    """Predictions of every stack [S, N, K, 2] in original-image px, peak
    scores [S, N, K], the `META_KEYS` rows of the N people, and the first M
    crops [M, S, S, 3] and their heatmaps [S, M, h, w, K] (or None)."""

    keypoints: np.ndarray
    scores: np.ndarray
    meta: dict
    example_images: np.ndarray | None
    example_heatmaps: np.ndarray | None
    stack_names: tuple = ()

    @property
    def num_stacks(self):
        return self.keypoints.shape[0]

    def stack_name(self, index):
        """The name of output `index` (0-based), e.g. `stack2`."""
        return (self.stack_names or output_stack_names([""] * self.num_stacks))[index]


META_KEYS = (
    "joints", "joints_annotated", "normalizer", "head_box", "scale", "crop_matrix",
    "image_id", "person_index",
)  # fmt: skip


def collect_predictions(dataset, heatmap_source, num_examples=8, total_batches=None):
    """The `EvaluationRun` of `heatmap_source` over `make_eval_dataset`'s batches."""
    keypoints, scores, metas, images_kept, heatmaps_kept = [], [], [], [], []
    kept = 0
    progress = tqdm(dataset, total=total_batches, desc="evaluate", unit="batch")
    for images, meta in progress:
        stacks = heatmap_source(images, meta)
        input_size = int(images.shape[1])
        decoded = [
            heatmaps_to_image_keypoints(heatmaps, meta["crop_matrix"], input_size)
            for heatmaps in stacks
        ]
        keypoints.append(np.stack([np.asarray(points) for points, _ in decoded]))
        scores.append(np.stack([np.asarray(score) for _, score in decoded]))
        metas.append({key: meta[key].numpy() for key in META_KEYS})
        metas[-1]["image_id"] = np.array([v.decode() for v in metas[-1]["image_id"]])
        take = max(0, min(num_examples - kept, int(images.shape[0])))
        if take:
            images_kept.append(np.asarray(images[:take]))
            heatmaps_kept.append(np.stack([np.asarray(h[:take]) for h in stacks]))
            kept += take
    if not keypoints:
        raise EvaluationInputError("the evaluation dataset yielded no usable person")
    return EvaluationRun(
        keypoints=np.concatenate(keypoints, axis=1).astype(np.float64),
        scores=np.concatenate(scores, axis=1).astype(np.float64),
        meta={key: np.concatenate([m[key] for m in metas]) for key in META_KEYS},
        example_images=np.concatenate(images_kept) if images_kept else None,
        example_heatmaps=(
            np.concatenate(heatmaps_kept, axis=1) if heatmaps_kept else None
        ),
    )
