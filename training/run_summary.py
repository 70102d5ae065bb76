"""The lines `training.train` prints when a run ends: the best epoch and its
validation score, where the model, export and logs are, and the command that
opens TensorBoard.

The epochs come from the run's CSV log rather than Keras's `History`, which
holds only the last `fit` call of a resumed run.
"""

import csv
import math
import shlex

from training.callbacks import run_paths
from training.callbacks import tensorboard_available

# Validation columns the CSV log can hold (`training.callbacks.Validation`),
# and how the summary names them.
VALIDATION_COLUMNS = {"val_pckh": "PCKh", "val_pck": "torso PCK"}


def read_epoch_log(csv_path):
    """The rows of the run's CSV log as dicts, [] when there is no log."""
    try:
        with open(csv_path, newline="") as handle:
            return list(csv.DictReader(handle))
    except FileNotFoundError:
        return []


def best_epoch(rows):
    """`(1-based epoch, column, value)` of the highest finite validation score
    in the CSV `rows` (the first such epoch on a tie), or None."""
    best = None
    for row in rows:
        for column in VALIDATION_COLUMNS:
            try:
                value = float(row.get(column) or "nan")
            except ValueError:
                continue
            if math.isfinite(value) and (best is None or value > best[2]):
                best = (int(row["epoch"]) + 1, column, value)
    return best


def format_run_summary(
    rows, paths, export_dir=None, thresholds=None, tensorboard_logs=True
):
    """The end-of-run summary as text.

    Args:
        rows: list of dicts. The CSV log (`read_epoch_log`); its `epoch`
            column is 0-based, as Keras's `CSVLogger` writes it.
        paths: dict from `training.callbacks.run_paths`.
        export_dir: path of the exported SavedModel, or None (not exported).
        thresholds: dict column -> threshold, e.g. `{"val_pckh": 0.5}`,
            shown as "PCKh@0.5".
        tensorboard_logs: bool. False when no TensorBoard logs were written
            (the `tensorboard` package is missing).
    """
    thresholds = thresholds or {}
    epochs = 1 + max((int(row["epoch"]) for row in rows), default=-1)
    best = best_epoch(rows)
    if best is None:
        score = "no validation score logged"
    else:
        epoch, column, value = best
        threshold = thresholds.get(column)
        metric = VALIDATION_COLUMNS[column]
        metric += f"@{threshold:g}" if threshold is not None else ""
        score = f"epoch {epoch} of {epochs}, validation {metric} {value:.1f}%"
    tensorboard = (
        f"tensorboard --logdir {shlex.quote(str(paths['logs']))}"
        if tensorboard_logs
        else "no logs (the tensorboard package is not installed)"
    )
    lines = [
        ("best", score),
        ("best model", paths["best"]),
        ("final model", paths["final"]),
        ("export", export_dir or "none (see --export)"),
        ("CSV log", paths["csv"]),
        ("TensorBoard", tensorboard),
    ]
    width = max(len(name) for name, _ in lines)
    return "\n".join(
        ["run summary:"] + [f"  {name:<{width}}  {value}" for name, value in lines]
    )


def summarize_run(config):
    """`format_run_summary` of the run `config` (a `TrainConfig`) wrote."""
    paths = run_paths(config.run_dir)
    return format_run_summary(
        read_epoch_log(paths["csv"]),
        paths,
        # A multi-worker run does not export, whatever `config.export` says.
        export_dir=paths["export"] if paths["export"].is_dir() else None,
        thresholds={"val_pckh": config.pckh_threshold, "val_pck": config.pck_threshold},
        tensorboard_logs=tensorboard_available(),
    )
