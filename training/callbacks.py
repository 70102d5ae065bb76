"""The callbacks of a training run and where each writes in the run directory.

    run_dir/
      config.json                 resolved configuration
      checkpoints/latest.keras    after every epoch (only if the loss is finite)
      checkpoints/best.keras      best validation score so far
      backup/                     crash backup every N steps (training.resume)
      logs/                       TensorBoard scalars; logs/images: heatmaps
      training_log.csv            one row per epoch (appended on resume)
      final.keras                 the trained model
      export/1/                   its SavedModel (unless --no-export)

Order matters: validation runs first, adding its score to the epoch logs the
others read; the backup runs last, saving their updated state.
"""

import importlib.util
import signal
import threading
from dataclasses import dataclass
from pathlib import Path

import keras

from evaluation.ground_truth import EvaluationInputError
from evaluation.metrics import HIT_AT_THRESHOLD
from evaluation.metrics import METRIC_LOG_NAMES
from evaluation.metrics import choose_pck_metric
from evaluation.metrics import describe_metric
from evaluation.metrics import torso_sizes
from keras_hourglass.data.metadata import split_head_boxes
from keras_hourglass.data.metadata import torso_joints_of
from keras_hourglass.joint_sets import joint_set_from_metadata
from keras_hourglass.saving import BEST_CHECKPOINT_FILE
from keras_hourglass.saving import FINAL_MODEL_FILE
from keras_hourglass.saving import LATEST_CHECKPOINT_FILE
from keras_hourglass.saving import save_model
from keras_hourglass.transforms import person_box_side
from training.config import ConfigError
from training.config import scheduled_learning_rate
from training.pckh_validation import HeatmapImageSummary
from training.pckh_validation import PckhValidation
from training.pckh_validation import head_normalizers
from training.pckh_validation import load_validation_subset
from training.resume import StepBackup
from training.resume import logs_are_finite


def tensorboard_available():
    """True when the `tensorboard` package (needed by `tf.summary`) imports."""
    return importlib.util.find_spec("tensorboard") is not None


def run_paths(run_dir):
    """Returns the named paths inside `run_dir` (nothing is created)."""
    run_dir = Path(run_dir)
    return {
        "config": run_dir / "config.json",
        "latest": run_dir / LATEST_CHECKPOINT_FILE,
        "best": run_dir / BEST_CHECKPOINT_FILE,
        "backup": run_dir / "backup",
        "logs": run_dir / "logs",
        "images": run_dir / "logs" / "images",
        "csv": run_dir / "training_log.csv",
        "final": run_dir / FINAL_MODEL_FILE,
        "export": run_dir / "export" / "1",
    }


class FiniteModelCheckpoint(keras.callbacks.ModelCheckpoint):
    """A `ModelCheckpoint` that never saves NaN weights, and saves through
    `keras_hourglass.saving` (atomic, with a sidecar)."""

    def __init__(self, filepath, joint_set=None, **kwargs):
        super().__init__(filepath, **kwargs)
        self.joint_set = joint_set

    def _save_model(self, epoch, batch, logs):
        if not logs_are_finite(logs):
            print(f"not saving {self.filepath}: the loss is not finite")
            return
        filepath = self._get_file_path(epoch, batch, logs)
        if self._should_save_model(epoch, batch, logs, filepath):
            Path(filepath).parent.mkdir(parents=True, exist_ok=True)
            save_model(self.model, filepath, joint_set=self.joint_set)


class NanGuard(keras.callbacks.Callback):
    """Stops training on a NaN/inf loss, saying which checkpoint is still
    good; `stopped_on_nan` keeps NaN weights from being saved as final."""

    def __init__(self, last_good_checkpoint):
        super().__init__()
        self.last_good_checkpoint = Path(last_good_checkpoint)
        self.stopped_on_nan = False
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if logs_are_finite(logs) or self.stopped_on_nan:
            return
        self.stopped_on_nan = True
        self.model.stop_training = True
        kept = (
            f"the last good checkpoint is kept at {self.last_good_checkpoint}"
            if self.last_good_checkpoint.exists()
            else "no checkpoint was written before it"
        )
        print(
            f"ERROR: the loss became {logs.get('loss')} at epoch {self._epoch + 1}, "
            f"step {batch + 1}; training stopped and {kept}. Try a lower "
            "learning rate or float32 precision."
        )


def build_callbacks(
    config, paths, validation, steps_per_epoch, resume_state=None, after_validation=()
):
    """Returns `(callbacks, nan_guard, step_backup)` for `model.fit` or
    `training.multiworker`; `after_validation` callbacks run right after the
    validation one, before any callback reads its score."""
    paths["latest"].parent.mkdir(parents=True, exist_ok=True)
    monitor, mode = validation.monitor, validation.mode
    nan_guard = NanGuard(paths["latest"])
    best = FiniteModelCheckpoint(
        str(paths["best"]), validation.joint_set, monitor=monitor, mode=mode,
        save_best_only=True,
    )  # fmt: skip
    if config.lr_drop_epochs:
        # Stateless (a function of the epoch), so nothing to keep for resume.
        learning_rate = keras.callbacks.LearningRateScheduler(
            lambda epoch, _: scheduled_learning_rate(config, epoch)
        )
        tracked = {"best_checkpoint": best}
    else:
        learning_rate = keras.callbacks.ReduceLROnPlateau(
            monitor=monitor,
            mode=mode,
            factor=config.lr_drop_factor,
            patience=config.lr_drop_patience,
            min_lr=config.min_learning_rate,
            verbose=1,
        )
        tracked = {"best_checkpoint": best, "reduce_lr": learning_rate}
    validating = [validation.callback] if validation.callback is not None else []
    callbacks = [
        *validating,
        *after_validation,
        keras.callbacks.TerminateOnNaN(),
        nan_guard,
        FiniteModelCheckpoint(str(paths["latest"]), validation.joint_set),
        best,
        learning_rate,
        keras.callbacks.CSVLogger(str(paths["csv"]), append=True),
    ]
    callbacks += tensorboard_callbacks(config, paths, validation)
    step_backup = StepBackup(
        paths["backup"], config.backup_every_steps, steps_per_epoch, tracked,
        resume_state,
    )  # fmt: skip
    # Last: a step's backup is written before Ctrl-C stops the run after it.
    return callbacks + [step_backup, StopOnInterrupt()], nan_guard, step_backup


def tensorboard_callbacks(config, paths, validation):
    """TensorBoard scalars and heatmap images, or [] without tensorboard."""
    if not tensorboard_available():
        print("warning: tensorboard is not installed; no TensorBoard logs")
        return []
    callbacks = [
        keras.callbacks.TensorBoard(
            log_dir=str(paths["logs"]), update_freq="epoch", profile_batch=0
        )
    ]
    # Drawn from the validation subset; `--validation-metric none` has none.
    if config.image_summaries and validation.subset is not None:
        callbacks.append(
            HeatmapImageSummary(
                validation.subset, config.image_summaries, paths["images"],
                validation.joint_set,
            )
        )  # fmt: skip
    return callbacks


@dataclass
class Validation:
    """The per-epoch validation of a run and the score it logs (`monitor`)."""

    callback: keras.callbacks.Callback | None
    monitor: str
    subset: dict | None
    joint_set: object
    mode: str = "max"


def choose_validation_metric(config, metadata):
    """The run's validation metric ("pckh", "pck", "box-pck" or "none"), as
    `choose_pck_metric` picks it; ConfigError naming the flag for one the data
    cannot give (cheap: checked before anything is written)."""
    requested, people = config.validation_metric, config.validation_people
    if requested == "none" or (requested == "auto" and people == 0):
        return "none"
    if people == 0:
        raise ConfigError(
            f"--validation-metric {requested} needs --validation-people > 0"
        )
    has_head_boxes = split_head_boxes(metadata, "valid") > 0
    has_torso = torso_joints_of(metadata) is not None
    try:
        return choose_pck_metric(
            requested, has_head_boxes, has_torso, "--validation-metric"
        )
    except EvaluationInputError as error:
        raise ConfigError(str(error)) from None


def validation_thresholds(config):
    """{metric: the run's threshold} for every validation PCK."""
    return {
        "pckh": config.pckh_threshold,
        "pck": config.pck_threshold,
        "box-pck": config.box_pck_threshold,
    }


def validation_normalizers(metric, torso_joints):
    """`(normalizers_of(joints, annotated, meta), what it needs)` of a PCK."""
    if metric == "pckh":
        return head_normalizers, "head size"
    if metric == "pck":
        return (
            lambda joints, annotated, _: torso_sizes(joints, annotated, torso_joints),
            "torso (both torso joints)",
        )
    return (
        lambda joints, annotated, meta: person_box_side(meta["scale"].numpy()),
        "person box",
    )


def choose_validation(config, metadata, valid_files):
    """The run's `Validation`, printing its metric."""
    metric = choose_validation_metric(config, metadata)
    joint_set = joint_set_from_metadata(metadata)
    if metric == "none":
        print("validation metric: none (the validation loss picks the best model)")
        return Validation(None, "val_loss", None, joint_set, mode="min")
    threshold = validation_thresholds(config)[metric]
    print(f"validation metric: {describe_metric(metric, threshold)}")
    normalizers_of, needs = validation_normalizers(metric, torso_joints_of(metadata))
    try:
        subset = load_validation_subset(
            valid_files, metadata["num_joints"], config.input_size,
            config.validation_people, max(1, config.batch_size),
            normalizers_of=normalizers_of, normalizer_name=needs,
        )  # fmt: skip
    except ValueError as error:
        raise ConfigError(f"--validation-metric {metric}: {error}") from None
    log_name = METRIC_LOG_NAMES[metric]
    callback = PckhValidation(
        subset, threshold, max(1, config.batch_size), log_name,
        hit_at_threshold=HIT_AT_THRESHOLD[metric],
    )
    return Validation(callback, f"val_{log_name}", subset, joint_set)


class StopOnInterrupt(keras.callbacks.Callback):
    """Stops training at the next batch or epoch end after Ctrl-C: a
    KeyboardInterrupt raised in a garbage-collection callback (JAX's) or a
    tf.data Python function is swallowed, so the request is raised again."""

    def __init__(self):
        super().__init__()
        self.requested = False
        self.previous_handler = None

    def on_train_begin(self, logs=None):
        if (
            threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler
        ):
            self.previous_handler = signal.signal(signal.SIGINT, self.interrupt)

    def interrupt(self, signal_number, frame):
        self.requested = True
        raise KeyboardInterrupt

    def raise_if_requested(self, *_, logs=None):
        if self.requested:
            raise KeyboardInterrupt

    on_train_batch_end = on_test_batch_end = on_epoch_end = raise_if_requested

    def on_train_end(self, logs=None):
        if self.previous_handler is not None:
            signal.signal(signal.SIGINT, self.previous_handler)
            self.previous_handler = None
