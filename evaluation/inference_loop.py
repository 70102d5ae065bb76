"""Loading a model to evaluate and running it over the evaluation crops.

A model is a `.keras` file, a training run directory (its `final.keras`, best
or latest checkpoint) or a SavedModel export (a version folder or its base
path; its `heatmaps` signature is used). Every model becomes a
`HeatmapModel`: a callable `call(images, training=False)` returning the list
of per-stack heatmaps, plus its input size, joint count and crop convention
(a `.keras` file's sidecar or an export's metadata; converted port weights
crop the port's way).

The loop itself uses only the library's inference functions (flip test,
quarter-pixel decoding, inverse crop), so evaluation decodes exactly as the
exported model and the training callback do.
"""

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from evaluation.ground_truth_structure import EvaluationInputError
from evaluation.predictors import latest_version_dir
from evaluation.run_directory import crop_convention_for_run
from evaluation.run_directory import find_keras_file
from keras_hourglass.inference import flip_test_heatmaps
from keras_hourglass.inference import heatmaps_to_image_keypoints
from keras_hourglass.inference import model_heatmaps
from keras_hourglass.model import stack_index_of_output
from keras_hourglass.serving.export import load_keras_model
from keras_hourglass.transforms import OFFICIAL_TORCH
from keras_hourglass.transforms import crop_convention_from_metadata


@dataclass(frozen=True)
class HeatmapModel:
    """A model reduced to what evaluation needs.

    Attributes:
        call: callable `call(images, training=False)` -> list of per-stack
            heatmaps [B, h, w, K], first stack first.
        input_size: int. Side of the square input crop.
        num_joints: int. Heatmap channels K.
        num_stacks: int. Heatmap outputs (stacks with an output).
        source: str. The file or folder it came from.
        stack_names: tuple of str. The stack of each output, `stack{i}`:
            without intermediate supervision the only output is the last
            stack's, which must not be reported as stack 1.
        crop_convention: `transforms.CropConvention`. How the model's crops
            are made from a person's centre and scale.
    """

    call: object
    input_size: int
    num_joints: int
    num_stacks: int
    source: str
    stack_names: tuple = ()
    crop_convention: object = OFFICIAL_TORCH


def stack_names_of(output_names):
    """`("stack1_heatmaps", "stack2_heatmaps")` -> `("stack1", "stack2")`;
    outputs not named by stack are numbered in order."""
    stacks = [stack_index_of_output(name) for name in output_names]
    if None in stacks:
        return tuple(f"stack{index}" for index in range(1, len(stacks) + 1))
    return tuple(f"stack{stack}" for stack in stacks)


def is_saved_model_dir(path):
    """True for a SavedModel folder or a base path holding version folders."""
    path = Path(path)
    return path.is_dir() and (
        (path / "saved_model.pb").is_file() or any(path.glob("*/saved_model.pb"))
    )


def load_saved_model(path):
    """Wraps the `heatmaps` signature of an export as a `HeatmapModel`."""
    version_dir = latest_version_dir(path)
    signatures = tf.saved_model.load(str(version_dir)).signatures
    if "heatmaps" not in signatures:
        raise EvaluationInputError(
            f"{version_dir}: the export has no 'heatmaps' signature "
            f"(found: {sorted(signatures)})"
        )
    signature = signatures["heatmaps"]
    outputs = signature.structured_outputs
    # "heatmaps" repeats the last stack; keep the numbered outputs in order.
    stack_keys = sorted(
        (key for key in outputs if stack_index_of_output(key)),
        key=stack_index_of_output,
    ) or ["heatmaps"]
    input_spec = signature.structured_input_signature[1]["images"]
    # The export's own record of its crop (exports without one crop as ours).
    metadata = {}
    if "metadata" in signatures:
        metadata = json.loads(signatures["metadata"]()["metadata_json"].numpy())

    def call(images, training=False):
        results = signature(images=tf.convert_to_tensor(images, tf.float32))
        return [results[key] for key in stack_keys]

    return HeatmapModel(
        call=call,
        input_size=int(input_spec.shape[1]),
        num_joints=int(outputs["heatmaps"].shape[-1]),
        num_stacks=len(stack_keys),
        source=str(version_dir),
        stack_names=stack_names_of(stack_keys),
        crop_convention=crop_convention_from_metadata(metadata, str(version_dir)),
    )


def load_heatmap_model(path):
    """Loads a `.keras` file, run directory or SavedModel as a `HeatmapModel`.

    Raises:
        EvaluationInputError: the path does not exist or holds no model.
    """
    path = Path(path)
    if not path.exists():
        raise EvaluationInputError(f"{path}: no such model file or directory")
    if is_saved_model_dir(path):
        return load_saved_model(path)
    try:
        keras_file = find_keras_file(path)
        model = load_keras_model(keras_file)
        crop_convention = crop_convention_for_run(keras_file)
    except (FileNotFoundError, ValueError) as error:
        raise EvaluationInputError(f"{path}: no loadable model ({error})") from error
    return HeatmapModel(
        call=compiled_forward(model),
        input_size=int(model.input_shape[1]),
        num_joints=int(model.outputs[-1].shape[-1]),
        num_stacks=len(model.outputs),
        source=str(keras_file),
        stack_names=stack_names_of(model.output_names),
        crop_convention=crop_convention,
    )


def compiled_forward(model):
    """`model(images, training=False)` as one graph: calling a Keras model
    eagerly batch by batch ran op by op and doubled evaluation time on a CPU."""

    @tf.function(reduce_retracing=True)
    def forward(images, training=False):
        return model(images, training=False)

    return forward


def model_heatmap_source(model_call, flip_pairs, flip_test=True):
    """Returns `source(images, meta)` -> list of per-stack heatmaps.

    With `flip_test`, each stack's heatmaps are averaged with those of the
    mirrored crop (mirrored back, left/right swapped), as in the paper.
    """

    def heatmap_source(images, meta):
        if flip_test:
            return flip_test_heatmaps(model_call, images, flip_pairs, all_stacks=True)
        return model_heatmaps(model_call, images, all_stacks=True)

    return heatmap_source


@dataclass
class EvaluationRun:
    """Predictions and ground truth of every evaluated person (N people).

    Attributes:
        keypoints: float64 [S, N, K, 2]. Per stack, original image px.
        scores: float64 [S, N, K]. Heatmap value at each peak.
        meta: dict of NumPy arrays from the eval dataset (`joints`,
            `joints_annotated`, `normalizer`, `head_box`, `crop_matrix`,
            `image_id` (str), `person_index`), N rows each.
        example_images: float32 [M, S, S, 3]. The first M crops.
        example_heatmaps: float32 [S, M, h, w, K]. Their heatmaps per stack.
        stack_names: tuple of S str (`stack{i}`), or () for stacks 1..S.
    """

    keypoints: np.ndarray
    scores: np.ndarray
    meta: dict
    example_images: np.ndarray
    example_heatmaps: np.ndarray
    stack_names: tuple = ()

    @property
    def num_stacks(self):
        return self.keypoints.shape[0]

    def stack_name(self, index):
        """The name of output `index` (0-based), e.g. `stack2`."""
        return (self.stack_names or stack_names_of([""] * self.num_stacks))[index]


META_KEYS = (
    "joints", "joints_annotated", "normalizer", "head_box", "crop_matrix",
    "image_id", "person_index",
)  # fmt: skip


def _numpy_meta(meta):
    values = {key: meta[key].numpy() for key in META_KEYS}
    values["image_id"] = np.array([v.decode("utf-8") for v in values["image_id"]])
    return values


def collect_predictions(dataset, heatmap_source, num_examples=8, total_batches=None):
    """Runs `heatmap_source` over an eval dataset and decodes every stack.

    Args:
        dataset: `(images, meta)` batches from `pipeline.make_eval_dataset`.
        heatmap_source: `fn(images, meta)` -> list of per-stack heatmaps
            (see `model_heatmap_source`; tests pass a perfect source).
        num_examples: int. Crops (and heatmaps) kept for the figures.
        total_batches: int or None. For the progress bar.

    Returns:
        `EvaluationRun`.

    Raises:
        EvaluationInputError: the dataset yields no person.
    """
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
        metas.append(_numpy_meta(meta))
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
        example_images=np.concatenate(images_kept),
        example_heatmaps=np.concatenate(heatmaps_kept, axis=1),
    )


def batch_count(num_people, batch_size):
    """Number of batches for `num_people` (for progress bars)."""
    return math.ceil(num_people / batch_size) if num_people else None
