"""The files `python -m evaluation.evaluate` writes (docs/evaluation.md),
among them the evaluated ground truth, so `evaluation.pckh` can rescore them.
"""

import dataclasses
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from evaluation import plots
from evaluation.metrics import METRIC_LABELS
from evaluation.metrics import METRIC_LOG_NAMES
from evaluation.metrics import accuracy_curve
from evaluation.metrics import evaluate_metric
from evaluation.prediction_files import csv_column_names
from evaluation.prediction_files import write_predictions
from evaluation.report import dataframe_to_markdown
from evaluation.report import format_console_report
from evaluation.report import json_number
from evaluation.report import paper_table
from evaluation.report import per_joint_table
from evaluation.report import summary_to_json_dict
from evaluation.report import write_table_csv
from evaluation.run_directory import run_file
from keras_hourglass.files import write_json_atomically
from keras_hourglass.files import write_text_atomically
from keras_hourglass.joint_sets import metric_joint_set
from keras_hourglass.transforms import transform_points


def write_prediction_files(out_dir, run, joint_names):
    """Writes `preds.h5` (every stack, scores, ids) and `preds.csv`."""
    h5_path = write_predictions(Path(out_dir) / "preds.h5", run.keypoints[-1])
    with h5py.File(h5_path, "a") as file:
        for index, stack in enumerate(run.keypoints):
            file.create_dataset(f"preds_{run.stack_name(index)}", data=stack)
        file.create_dataset("scores", data=run.scores[-1])
        file.create_dataset("image_id", data=run.meta["image_id"].astype("S"))
        file.create_dataset("person_index", data=run.meta["person_index"])
        file.create_dataset("crop_matrix", data=run.meta["crop_matrix"])
    flat = run.keypoints[-1].reshape(run.keypoints.shape[1], -1)
    table = pd.DataFrame(flat, columns=csv_column_names(joint_names))
    table.insert(0, "person_index", run.meta["person_index"])
    table.insert(0, "image_id", run.meta["image_id"])
    table.to_csv(Path(out_dir) / "preds.csv", index=False)


def write_ground_truth_json(path, meta, ground_truth):
    """Writes the evaluated people as annotation JSON (`read_annotation_json`)."""
    sizes = ground_truth.person_sizes
    people = [
        {
            "image": str(meta["image_id"][index]),
            "person_index": int(meta["person_index"][index]),
            "joints": ground_truth.joints[index].tolist(),
            "joints_annotated": ground_truth.annotated[index].astype(int).tolist(),
            "pckh_normaliser_0.6_headbox_diag": json_number(
                ground_truth.normalizer[index]
            ),
            "person_box_side": None if sizes is None else json_number(sizes[index]),
        }
        for index in range(ground_truth.num_people)
    ]
    contents = {"joint_names_long": list(ground_truth.joint_names), "people": people}
    return write_json_atomically(path, contents, indent=None)


def write_tables(out_dir, metric, summaries, thresholds, curve, model_name):
    """Writes the final-stack tables, the curve and the per-stack tables."""
    out_dir = Path(out_dir)
    final = list(summaries.values())[-1]
    write_text_atomically(
        out_dir / f"{metric}.md", format_console_report(final, model_name)
    )
    write_table_csv(paper_table({model_name: final}), out_dir / f"{metric}.csv")
    write_table_csv(per_joint_table(final), out_dir / f"{metric}_per_joint.csv")
    curve_table = pd.DataFrame(curve, columns=list(final.per_joint))
    curve_table.insert(0, "threshold", thresholds)
    curve_table.to_csv(out_dir / f"{metric}_curve.csv", index=False)
    stacks = paper_table(summaries).rename_axis("Stack")
    title = f"{final.metric}@{final.threshold:g} per stack (percent)\n\n"
    write_text_atomically(
        out_dir / "per_stack.md", title + dataframe_to_markdown(stacks)
    )
    write_table_csv(stacks, out_dir / "per_stack.csv")


def crop_keypoints(keypoints, crop_matrices):
    """Maps original-image keypoints [M, K, 2] into their crops' input px."""
    return np.asarray(transform_points(keypoints, crop_matrices), np.float64)


def write_figures(figures_dir, run, metric, summaries, thresholds, curve, log,
                  joint_set, compare_stack, model_name="model"):  # fmt: skip
    """Writes every figure as PNG and PDF; returns the written paths."""
    figures_dir = Path(figures_dir)
    figures_dir.mkdir(parents=True, exist_ok=True)
    label = METRIC_LABELS[metric]
    groups = metric_joint_set(joint_set.num_joints).metric_groups
    paths = plots.plot_accuracy_curves(
        thresholds, {model_name: curve}, groups, joint_set.joint_names, label,
        figures_dir / f"{metric}_curves",
    )  # fmt: skip
    means = [summary.groups["Mean"] for summary in summaries.values()]
    paths += plots.plot_stack_accuracy(means, label, figures_dir / "stack_accuracy")
    if log:
        paths += training_curve_figure(log, metric, figures_dir)
    if run.example_images is None:  # --num-examples 0: no crop figures
        return paths
    count = len(run.example_images)
    matrices = run.meta["crop_matrix"][:count]
    final = crop_keypoints(run.keypoints[-1][:count], matrices)
    ids, persons = run.meta["image_id"][:count], run.meta["person_index"][:count]
    titles = [f"{image_id} #{person}" for image_id, person in zip(ids, persons)]
    paths += plots.plot_prediction_grid(
        run.example_images, final, joint_set.skeleton, figures_dir / "predictions",
        titles=titles, joint_names=joint_set.joint_names,
        scores=run.scores[-1][:count],
        true_keypoints=crop_keypoints(run.meta["joints"][:count], matrices),
        true_annotated=run.meta["joints_annotated"][:count],
    )  # fmt: skip
    # The intermediate stack must come before the final one (when there is one).
    stack = max(1, min(compare_stack, run.num_stacks - 1))
    middle = crop_keypoints(run.keypoints[stack - 1][:count], matrices)
    paths += plots.plot_stack_comparison(
        run.example_images, middle, final, joint_set.skeleton,
        (run.stack_name(stack - 1), f"{run.stack_name(-1)} (final)"),
        figures_dir / "stack_comparison",
        heatmaps=(run.example_heatmaps[stack - 1], run.example_heatmaps[-1]),
        joint_names=joint_set.joint_names,
    )  # fmt: skip
    return paths


def write_all_outputs(config, run, ground_truth, joint_set, metric, threshold, skipped,
                      coco_ap=None):  # fmt: skip
    """Writes every output file; returns what `results.json` holds."""
    out_dir = Path(config.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomically(out_dir / "config.json", dataclasses.asdict(config))
    write_prediction_files(out_dir, run, joint_set.joint_names)
    write_ground_truth_json(out_dir / "ground_truth.json", run.meta, ground_truth)
    # Every stack is scored on the same people: their skips are logged once.
    last = len(run.keypoints) - 1
    summaries = {
        run.stack_name(index): evaluate_metric(
            metric, stack, ground_truth, threshold, report_skipped=index == last
        )
        for index, stack in enumerate(run.keypoints)
    }
    thresholds, curve = accuracy_curve(metric, run.keypoints[-1], ground_truth)
    model_name = Path(config.model).name or "model"
    write_tables(out_dir, metric, summaries, thresholds, curve, model_name)
    log = config.model and run_file(config.model, "training_log.csv")
    figures = write_figures(
        out_dir / "figures", run, metric, summaries, thresholds, curve, log,
        joint_set, config.compare_stack, model_name,
    )  # fmt: skip
    final = list(summaries.values())[-1]
    results = {
        "metric": metric,
        "threshold": threshold,
        "people": int(ground_truth.num_people),
        "mean": json_number(final.groups["Mean"]),
        "per_stack_mean": {
            name: json_number(summary.groups["Mean"])
            for name, summary in summaries.items()
        },
        "final": summary_to_json_dict(final),
        "skipped": skipped,
        "figures": [str(path) for path in figures],
    }
    if coco_ap is not None:
        results["coco_ap"] = coco_ap
    write_json_atomically(out_dir / "results.json", results)
    return results


def training_curve_figure(log, metric, figures_dir):
    """The validation accuracy figure of the run's CSV log, if it has one."""
    column = plots.accuracy_column(log, prefer=f"val_{METRIC_LOG_NAMES[metric]}")
    if column is None:
        print(f"note: {log} has no validation PCK column; no training curve")
        return []
    metric_of_column = {f"val_{v}": k for k, v in METRIC_LOG_NAMES.items()}
    label = METRIC_LABELS[metric_of_column[column]]
    runs = {log.parent.name or "run": log}
    return plots.plot_training_curves(
        runs, figures_dir / "training_curves", column, label
    )
