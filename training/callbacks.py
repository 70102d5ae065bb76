"""The callbacks of a training run and where each writes in the run directory.

    run_dir/
      config.json                 resolved configuration
      checkpoints/latest.keras    after every epoch (only if the loss is finite)
      checkpoints/best.keras      best validation PCKh so far
      backup/                     BackupAndRestore state, every N steps
      logs/                       TensorBoard scalars; logs/images: heatmaps
      training_log.csv            one row per epoch (appended on resume)
      final.keras                 the trained model

Order matters: the PCKh validation callback runs first and adds `val_pckh*`
to the epoch logs that the checkpoint, learning-rate and logging callbacks
read afterwards.
"""

import importlib.util
import math
from pathlib import Path

import keras

from training.heatmap_images import HeatmapImageSummary
from training.pckh_validation import PckhValidation


def tensorboard_available():
    """True when the `tensorboard` package (needed by `tf.summary`) imports."""
    return importlib.util.find_spec("tensorboard") is not None


def run_paths(run_dir):
    """Returns the named paths inside `run_dir` (nothing is created)."""
    run_dir = Path(run_dir)
    return {
        "config": run_dir / "config.json",
        "latest": run_dir / "checkpoints" / "latest.keras",
        "best": run_dir / "checkpoints" / "best.keras",
        "backup": run_dir / "backup",
        "logs": run_dir / "logs",
        "images": run_dir / "logs" / "images",
        "csv": run_dir / "training_log.csv",
        "final": run_dir / "final.keras",
    }


def logs_are_finite(logs):
    """True unless the logged loss is NaN or infinite."""
    loss = (logs or {}).get("loss")
    return loss is None or math.isfinite(float(loss))


class FiniteModelCheckpoint(keras.callbacks.ModelCheckpoint):
    """A `ModelCheckpoint` that never overwrites a good file with NaN weights."""

    def _save_model(self, epoch, batch, logs):
        if not logs_are_finite(logs):
            print(f"not saving {self.filepath}: the loss is not finite")
            return
        super()._save_model(epoch, batch, logs)


class NanGuard(keras.callbacks.Callback):
    """Stops training on a NaN/inf loss and says which checkpoint is still good.

    `TerminateOnNaN` alone stops quietly; this adds the message, and
    `stopped_on_nan` tells the program not to save NaN weights as final.
    """

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


def build_callbacks(config, paths, validation_subset, skeleton=()):
    """Returns the callback list for `model.fit` (see the module docstring).

    Args:
        config: `TrainConfig`.
        paths: dict from `run_paths`.
        validation_subset: dict from `load_validation_subset`.
        skeleton: bone index pairs for the TensorBoard images.
    """
    paths["latest"].parent.mkdir(parents=True, exist_ok=True)
    nan_guard = NanGuard(paths["latest"])
    callbacks = [
        PckhValidation(
            validation_subset,
            config.output_size,
            threshold=config.pckh_threshold,
            batch_size=max(1, config.batch_size),
        ),
        keras.callbacks.TerminateOnNaN(),
        nan_guard,
        # double_checkpoint: a kill during a save leaves a corrupt file; Keras
        # then falls back to the previous backup.
        keras.callbacks.BackupAndRestore(
            str(paths["backup"]),
            save_freq=config.backup_every_steps,
            double_checkpoint=True,
        ),
        FiniteModelCheckpoint(str(paths["latest"])),
        FiniteModelCheckpoint(
            str(paths["best"]), monitor="val_pckh", mode="max", save_best_only=True
        ),
        keras.callbacks.ReduceLROnPlateau(
            monitor="val_pckh",
            mode="max",
            factor=config.lr_drop_factor,
            patience=config.lr_drop_patience,
            min_lr=config.min_learning_rate,
            verbose=1,
        ),
        keras.callbacks.CSVLogger(str(paths["csv"]), append=True),
    ]
    if not tensorboard_available():
        # tf.summary needs the tensorboard package; the run still logs to CSV.
        print("warning: tensorboard is not installed; no TensorBoard logs")
        return callbacks, nan_guard
    callbacks.append(
        keras.callbacks.TensorBoard(
            log_dir=str(paths["logs"]), update_freq="epoch", profile_batch=0
        )
    )
    if config.image_summaries:
        images = validation_subset["images"][: config.image_summaries]
        callbacks.append(HeatmapImageSummary(images, paths["images"], skeleton))
    return callbacks, nan_guard
