"""The end of a training run, done once and checked: final model, then export.

`run_dir/completion.json` records each part only once it is written and
verified, with the global step of its weights, e.g.
`{"final_model": {"global_step": 180, "sha256": "...", "bytes": 5021}}`, so a
rerun after a crash (`kill -9` included) redoes only what is missing, damaged
or older. The summary is read from the CSV log, since Keras's `History` holds
only the last `fit` call of a resumed run.
"""

import json
import math
import shlex
from pathlib import Path

import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from evaluation.metrics import METRIC_LABELS
from evaluation.metrics import METRIC_LOG_NAMES
from keras_hourglass.files import file_sha256
from keras_hourglass.files import write_json_atomically
from keras_hourglass.joint_sets import joint_set_from_metadata
from keras_hourglass.saving import DamagedFileError
from keras_hourglass.saving import save_model
from keras_hourglass.serving.export import export_saved_model
from training.callbacks import run_paths
from training.callbacks import tensorboard_available
from training.callbacks import validation_thresholds
from training.resume import read_csv_log

COMPLETION_FILE = "completion.json"
EXPORT_VERSION = 1


def read_completion(run_dir):
    """The run's completion record; {} when absent or unreadable (all redone)."""
    path = Path(run_dir) / COMPLETION_FILE
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        print(f"warning: {path} is unreadable; checking every part of the run")
        return {}
    return record if isinstance(record, dict) else {}


def record_part(run_dir, part, details):
    """Records `part` as finished (atomically); returns the whole record."""
    record = read_completion(run_dir)
    record[part] = details
    path = Path(run_dir) / COMPLETION_FILE
    write_json_atomically(path, record, indent=1)
    return record


def final_model_is_done(record, final_path, global_step):
    """True when final.keras is recorded for `global_step`, bytes unchanged."""
    done = record.get("final_model") or {}
    if done.get("global_step") != global_step or not Path(final_path).is_file():
        return False
    if Path(final_path).stat().st_size != done.get("bytes"):
        return False
    return file_sha256(final_path) == done.get("sha256")


def export_problems(version_dir):
    """What is missing from an export folder (empty when complete)."""
    version_dir = Path(version_dir)
    required = [
        version_dir / "saved_model.pb",
        version_dir / "variables" / "variables.index",
        version_dir / "assets.extra" / "metadata.json",
        version_dir.parent / "models.config",
    ]
    problems = [f"{path} is missing" for path in required if not path.is_file()]
    if not list((version_dir / "variables").glob("variables.data-*")):
        problems.append(f"{version_dir / 'variables'} holds no variables data")
    return problems


def verify_export(version_dir):
    """Raises DamagedFileError unless the SavedModel folder is complete and
    its graph and variables index parse."""
    problems = export_problems(version_dir)
    if not problems:
        try:
            saved_model_pb2.SavedModel().ParseFromString(
                (Path(version_dir) / "saved_model.pb").read_bytes()
            )
            tf.train.load_checkpoint(str(Path(version_dir) / "variables" / "variables"))
        except Exception as error:  # noqa: BLE001 (any parse failure: damaged)
            problems.append(f"unreadable ({type(error).__name__}: {error})")
    if problems:
        raise DamagedFileError(f"{version_dir}: export incomplete: {problems}")


def export_is_done(record, version_dir, global_step):
    """True when the export is recorded for `global_step`, files all there."""
    done = record.get("export") or {}
    return done.get("global_step") == global_step and not export_problems(version_dir)


def finish_run(model, config, paths, metadata, global_step):
    """Saves `final.keras` and exports `run_dir/export/1` (unless
    `config.export` is False), each unless done for `global_step`."""
    run_dir, final = Path(config.run_dir), paths["final"]
    details = {"global_step": global_step, "epochs": config.epochs}
    record = record_part(run_dir, "training", details)
    if final_model_is_done(record, final, global_step):
        print(f"{final} is already saved (checked)")
    else:
        # Through a temporary file checked to reload with the same weights.
        save_model(
            model, final, joint_set=joint_set_from_metadata(metadata),
            check_reload=True,
        )  # fmt: skip
        saved = {"global_step": global_step, "sha256": file_sha256(final),
                 "bytes": final.stat().st_size}  # fmt: skip
        record = record_part(run_dir, "final_model", saved)
        print(f"saved {final}")
    if not config.export:
        return record
    version_dir = run_dir / "export" / str(EXPORT_VERSION)
    if export_is_done(record, version_dir, global_step):
        print(f"{version_dir} is already exported (checked)")
        return record
    export_saved_model(
        model, run_dir / "export", version=EXPORT_VERSION,
        joint_set=joint_set_from_metadata(metadata), overwrite=True,
    )  # fmt: skip
    verify_export(version_dir)
    exported = {"global_step": global_step, "version_dir": f"export/{EXPORT_VERSION}"}
    print(f"exported {version_dir}")
    return record_part(run_dir, "export", exported)


# Validation columns of the CSV log, and how the summary names them.
VALIDATION_COLUMNS = {
    f"val_{METRIC_LOG_NAMES[metric]}": label for metric, label in METRIC_LABELS.items()
}


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
    """The end-of-run summary from the CSV log `rows` (0-based epochs);
    `thresholds` `{"val_pckh": 0.5}` shows as "PCKh@0.5"."""
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
    rows = read_csv_log(paths["csv"])[1] if paths["csv"].is_file() else []
    return format_run_summary(
        rows,
        paths,
        # A multi-worker run does not export, whatever `config.export` says.
        export_dir=paths["export"] if paths["export"].is_dir() else None,
        thresholds={
            f"val_{METRIC_LOG_NAMES[metric]}": threshold
            for metric, threshold in validation_thresholds(config).items()
        },
        tensorboard_logs=tensorboard_available(),
    )
