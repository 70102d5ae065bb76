"""Evaluates a stacked hourglass on a converted dataset: predictions, tables, figures.

    python -m evaluation.evaluate --model runs/demo --data data/mpii --out eval/demo
    python -m evaluation.evaluate --model exports/hourglass --data data/lsp \
        --metric pck --no-flip --batch-size 16 --out eval/lsp

`--model` is a run directory, a `.keras` file, a SavedModel export or a
LiteRT or ONNX heatmap file (`.tflite`, `.onnx`); `--data` a shard folder
with `dataset.json` (or the JSON itself). Each person crop runs through the
network and, unless `--no-flip`, its mirror image (heatmaps
flipped back, left/right swapped, averaged). Every stack's heatmaps are decoded
(argmax + quarter pixel) and mapped through the inverse crop to original image
px. `--metric auto` picks PCKh when every person has a head box, else PCK@0.2
of the torso. `--out` receives (see `evaluation.evaluate_outputs`):

    config.json  preds.h5  preds.csv  ground_truth.json  results.json
    <metric>.md/.csv  <metric>_per_joint.csv  <metric>_curve.csv
    per_stack.md/.csv  figures/*.png|pdf

User errors (missing model, no dataset.json, joint count mismatch) print one
line and exit with status 2.
"""

import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evaluation.coco_ap import write_coco_ap
from evaluation.evaluate_outputs import write_all_outputs
from evaluation.evaluation_loop import batch_count
from evaluation.evaluation_loop import collect_predictions
from evaluation.evaluation_loop import load_heatmap_model
from evaluation.evaluation_loop import model_heatmap_source
from evaluation.ground_truth import EvaluationInputError
from evaluation.ground_truth import from_arrays
from keras_hourglass.data.counter import RecordCounter
from keras_hourglass.data.metadata import read_metadata
from keras_hourglass.data.metadata import split_files
from keras_hourglass.data.pipeline import make_eval_dataset
from keras_hourglass.joint_sets import joint_set_from_metadata
from training.cli_flags import add_dataclass_flags
from training.cli_flags import option
from training.cli_flags import program_parser

logger = logging.getLogger("evaluation.evaluate")
METRICS = ("auto", "pckh", "pck", "coco-ap")
DEFAULT_THRESHOLDS = {"pckh": 0.5, "pck": 0.2}
USER_ERROR_EXIT_CODE = 2


@dataclass
class EvalConfig:
    """Everything one evaluation depends on; defaults follow the paper."""

    model: str = option(
        "", "run directory, .keras file, SavedModel export, .tflite or .onnx file"
    )
    data: str = option("", "shard folder with dataset.json, or the JSON file")
    out: str = option("", "output folder")
    split: str = option("valid", "dataset split to evaluate")
    flip: bool = option(True, "average with the mirrored crop (paper)")
    batch_size: int = option(8, "crops per batch", minimum=1)
    threshold: float | None = option(
        None, "hit threshold (pckh 0.5, pck 0.2)", above=0
    )
    metric: str = option(
        "auto", "pckh, pck (torso), auto, or coco-ap (plus PCK tables)", METRICS
    )
    coco_annotations: str = option(
        "", "coco-ap: the COCO keypoints JSON the split was converted from"
    )
    max_people: int = option(
        0, "evaluate only the first N people (0: all)", minimum=0
    )
    num_examples: int = option(8, "crops drawn in the figures", minimum=0)
    compare_stack: int = option(
        2, "intermediate stack in the comparison figure", minimum=1
    )


def build_argument_parser():
    """One `--flag` per `EvalConfig` field (booleans also get `--no-flag`)."""
    parser = program_parser("evaluation.evaluate", __doc__.split("\n")[0])
    return add_dataclass_flags(parser, EvalConfig, required=("model", "data", "out"))


def parse_config(argv=None):
    """Parses `argv` into an `EvalConfig`."""
    return EvalConfig(**vars(build_argument_parser().parse_args(argv)))


def load_dataset_metadata(data_path):
    """Returns the dataset's metadata dict; a clear error when it is missing."""
    try:
        return read_metadata(data_path)
    except (FileNotFoundError, ValueError) as error:
        raise EvaluationInputError(
            f"{data_path}: no usable dataset.json ({error}); convert the data "
            "with `python -m training.make_tfrecords`"
        ) from error


def build_eval_dataset(metadata, split, input_size, batch_size, max_people=0,
                       crop_convention=None):  # fmt: skip
    """Returns `(dataset, counter, expected people)` for one split,
    cropped with the model's `crop_convention` (None: ours)."""
    try:
        files = split_files(metadata, split)
    except ValueError as error:
        raise EvaluationInputError(f"{metadata['directory']}: {error}") from error
    if not files:
        raise EvaluationInputError(f"{metadata['directory']}: split {split} is empty")
    counter = RecordCounter.for_split(metadata, split)
    dataset = make_eval_dataset(
        files, metadata["num_joints"], batch_size=batch_size,
        input_size=input_size, crop_convention=crop_convention, counter=counter,
    )  # fmt: skip
    people = metadata["splits"][split].get("count", 0)
    if max_people > 0:
        dataset = dataset.unbatch().take(max_people).batch(batch_size)
        people = min(people, max_people) if people else max_people
    return dataset, counter, people


def check_joint_counts(model, metadata):
    """Raises when the model's heatmap count differs from the dataset's joints."""
    if model.num_joints != metadata["num_joints"]:
        raise EvaluationInputError(
            f"{model.source} predicts {model.num_joints} joints but the dataset "
            f"{metadata['directory']} has {metadata['num_joints']}"
        )


def ground_truth_from_meta(meta, joint_names, source):
    """Builds the `GroundTruth` of the evaluated people from the dataset meta."""
    normalizer = np.asarray(meta["normalizer"], np.float64)
    # The records store -1 for "no head box"; PCKh marks unknown with NaN.
    normalizer = np.where(normalizer > 0, normalizer, np.nan)
    return from_arrays(
        meta["joints"],
        np.asarray(meta["joints_annotated"]) > 0,
        normalizer=normalizer,
        joint_names=joint_names,
        source=source,
    )


def resolve_metric(metric, ground_truth):
    """`auto` (and `coco-ap`, for its PCK tables) becomes pckh when every
    person has a head size, else pck."""
    if metric not in ("auto", "coco-ap"):
        return metric
    return "pckh" if np.isfinite(ground_truth.normalizer).all() else "pck"


def run_evaluation(config, model=None, heatmap_source=None):
    """Evaluates `config.model` (or a loaded `HeatmapModel`) on `config.data`,
    writes every output and returns the results written as `results.json`.
    `heatmap_source(images, meta)` stands in for the model (with the flip
    test when `config.flip`) when given."""
    metadata = load_dataset_metadata(config.data)
    joint_set = joint_set_from_metadata(metadata)
    model = model or load_heatmap_model(config.model)
    check_joint_counts(model, metadata)
    if heatmap_source is None:
        heatmap_source = model_heatmap_source(
            model.call, joint_set.flip_pairs, config.flip
        )
    dataset, counter, people = build_eval_dataset(
        metadata, config.split, model.input_size, config.batch_size,
        config.max_people, model.crop_convention,
    )  # fmt: skip
    run = collect_predictions(
        dataset, heatmap_source, config.num_examples,
        batch_count(people, config.batch_size),
    )  # fmt: skip
    run.stack_names = model.stack_names
    totals = counter.totals()
    skipped = {
        "lost_to_damaged_shards": totals["records_lost"],
        "unreadable_records": totals["unreadable_records"],
    }
    if any(skipped.values()):
        logger.warning("skipped records: %s", skipped)
    source = f"{metadata['directory']} split {config.split}"
    ground_truth = ground_truth_from_meta(run.meta, joint_set.joint_names, source)
    coco_ap = None
    if config.metric == "coco-ap":
        coco_ap = write_coco_ap(config.out, config.coco_annotations, run)
    metric = resolve_metric(config.metric, ground_truth)
    threshold = (
        DEFAULT_THRESHOLDS[metric] if config.threshold is None else config.threshold
    )
    results = write_all_outputs(
        config, run, ground_truth, joint_set, metric, threshold, skipped
    )
    return results if coco_ap is None else {**results, "coco_ap": coco_ap}


def main(argv=None):
    """Runs the command; returns the process exit status."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    config = parse_config(argv)
    try:
        results = run_evaluation(config)
    except (EvaluationInputError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return USER_ERROR_EXIT_CODE
    print(Path(config.out, f"{results['metric']}.md").read_text())
    if "coco_ap" in results:
        print(Path(config.out, "coco_ap.md").read_text())
    print(json.dumps({"mean": results["mean"], "out": config.out}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
