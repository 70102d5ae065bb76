"""Evaluates a stacked hourglass on a converted dataset: predictions, tables, figures.

    python -m evaluation.evaluate --model runs/demo --data data/mpii --out eval/demo

Each person is cut with the model's reference crop, run with the flip test
unless `--no-flip`, and every stack decoded as serving decodes it. A metric
the data cannot give is refused before anything is written. COCO AP and the
files written: docs/evaluation.md.
"""

import json
import logging
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evaluation.coco_ap import write_coco_ap
from evaluation.detections import DetectedBoxes
from evaluation.detections import read_detections_file
from evaluation.evaluate_outputs import write_all_outputs
from evaluation.evaluation_loop import collect_predictions
from evaluation.evaluation_loop import load_heatmap_model
from evaluation.evaluation_loop import model_heatmap_source
from evaluation.ground_truth import EvaluationInputError
from evaluation.ground_truth import from_arrays
from evaluation.metrics import DEFAULT_THRESHOLDS
from evaluation.metrics import PCK_METRICS
from evaluation.metrics import choose_pck_metric
from evaluation.metrics import describe_metric
from keras_hourglass.data.counter import RecordCounter
from keras_hourglass.data.metadata import read_metadata
from keras_hourglass.data.metadata import split_files
from keras_hourglass.data.metadata import split_head_boxes
from keras_hourglass.data.metadata import torso_joints_of
from keras_hourglass.data.pipeline import make_eval_dataset
from keras_hourglass.joint_sets import joint_set_from_metadata
from keras_hourglass.transforms import person_box_side
from training.cli_flags import add_dataclass_flags
from training.cli_flags import option
from training.cli_flags import program_parser
from training.programs import program_command
from training.programs import run_main

logger = logging.getLogger("evaluation.evaluate")
METRICS = ("auto", *PCK_METRICS, "coco-ap")


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
        None, "hit threshold (pckh 0.5, pck 0.2, box-pck 0.05)", above=0
    )
    metric: str = option(
        "auto", "pckh, pck (torso), box-pck (person box), auto (the first the "
        "data supports), or coco-ap (AP on ground-truth boxes, plus auto's "
        "tables)", METRICS,
    )  # fmt: skip
    coco_annotations: str = option(
        "", "coco-ap: the COCO keypoints JSON the split was converted from"
    )
    detections: str = option(
        "", "coco-ap: a person detector's boxes (COCO results JSON); AP on "
        "detected boxes instead of ground-truth boxes",
    )  # fmt: skip
    detection_score_threshold: float = option(
        0.0, "--detections: skip boxes scoring less", minimum=0
    )
    oks_nms: float = option(
        0.0, "--detections: drop a person whose OKS with a higher-scoring one "
        "exceeds this (0: off; the field uses 0.9)", minimum=0,
    )  # fmt: skip
    max_people: int = option(0, "evaluate only the first N people (0: all)", minimum=0)
    num_examples: int = option(8, "crops drawn in the figures", minimum=0)
    compare_stack: int = option(
        2, "intermediate stack in the comparison figure", minimum=1
    )


def parse_config(argv=None):
    """Parses `argv` into an `EvalConfig`."""
    parser = program_parser("evaluation.evaluate", __doc__.split("\n")[0])
    add_dataclass_flags(parser, EvalConfig, required=("model", "data", "out"))
    return EvalConfig(**vars(parser.parse_args(argv)))


def build_eval_dataset(metadata, split, input_size, batch_size, max_people=0,
                       crop_convention=None):  # fmt: skip
    """Returns `(dataset, counter, expected people)` of one split."""
    files = split_files(metadata, split)  # a known split: `resolve_metric` checked
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


def ground_truth_from_meta(meta, joint_names, source):
    """The `GroundTruth` of the evaluated people, from the dataset meta."""
    normalizer = np.asarray(meta["normalizer"], np.float64)
    # The records store -1 for "no head box"; PCKh marks unknown with NaN.
    normalizer = np.where(normalizer > 0, normalizer, np.nan)
    sizes = person_box_side(np.asarray(meta["scale"], np.float64).reshape(-1))
    return from_arrays(
        meta["joints"],
        np.asarray(meta["joints_annotated"]) > 0,
        normalizer=normalizer,
        joint_names=joint_names,
        source=source,
        person_sizes=np.where(sizes > 0, sizes, np.nan),
    )


def resolve_metric(metric, metadata, split):
    """The PCK a `--metric` scores on `split` (`coco-ap`'s tables as `auto`)."""
    try:
        every_head_box = split_head_boxes(metadata, split) == (
            metadata["splits"][split].get("count", 0)
        )
    except ValueError as error:
        raise EvaluationInputError(f"{metadata['directory']}: {error}") from error
    requested = "auto" if metric == "coco-ap" else metric
    has_torso = torso_joints_of(metadata) is not None
    return choose_pck_metric(requested, every_head_box, has_torso, "--metric")


def detected_boxes(config, metadata):
    """The `DetectedBoxes` of `--detections`, its file checked, or None."""
    if not config.detections:
        return None
    if config.metric != "coco-ap":
        raise EvaluationInputError(
            "--detections needs --metric coco-ap (PCK tables score ground-truth boxes)"
        )
    return DetectedBoxes(
        path=config.detections,
        entries=read_detections_file(config.detections),
        model=config.model,
        metadata=metadata,
        split=config.split,
        flip_test=config.flip,
        score_threshold=config.detection_score_threshold,
        oks_nms_threshold=config.oks_nms,
    )


def run_evaluation(config, model=None, heatmap_source=None):
    """Evaluates `config.model` (or a loaded `HeatmapModel`) on `config.data`,
    writes every output and returns `results.json`'s contents;
    `heatmap_source(images, meta)`, when given, stands in for the model."""
    try:
        metadata = read_metadata(config.data)
    except (FileNotFoundError, ValueError) as error:
        raise EvaluationInputError(
            f"{config.data}: no usable dataset.json ({error}); convert the data "
            f"with `{program_command('training.make_tfrecords')}`"
        ) from error
    detected = detected_boxes(config, metadata)  # a bad file stops before any work
    joint_set = joint_set_from_metadata(metadata)
    metric = resolve_metric(config.metric, metadata, config.split)
    threshold = (
        DEFAULT_THRESHOLDS[metric] if config.threshold is None else config.threshold
    )
    logger.info("metric: %s", describe_metric(metric, threshold))
    model = model or load_heatmap_model(config.model)
    if model.num_joints != metadata["num_joints"]:
        raise EvaluationInputError(
            f"{model.source} predicts {model.num_joints} joints but the dataset "
            f"{metadata['directory']} has {metadata['num_joints']}"
        )
    if heatmap_source is None:
        heatmap_source = model_heatmap_source(
            model.call, joint_set.flip_pairs, config.flip
        )
    dataset, counter, people = build_eval_dataset(
        metadata, config.split, model.input_size, config.batch_size,
        config.max_people, model.crop_convention,
    )  # fmt: skip
    batches = math.ceil(people / config.batch_size) if people else None
    run = collect_predictions(dataset, heatmap_source, config.num_examples, batches)
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
        coco_ap = write_coco_ap(config.out, config.coco_annotations, run, detected)
    return write_all_outputs(
        config, run, ground_truth, joint_set, metric, threshold, skipped, coco_ap
    )


def main(argv=None):
    """Runs the command; returns the process exit status."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    config = parse_config(argv)
    try:
        results = run_evaluation(config)
    except (EvaluationInputError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(Path(config.out, f"{results['metric']}.md").read_text())
    if "coco_ap" in results:
        print(Path(config.out, "coco_ap.md").read_text())
    print(json.dumps({"mean": results["mean"], "out": config.out}))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
