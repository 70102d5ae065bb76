"""Training on several machines (`TF_CONFIG` set): a custom loop under
`MultiWorkerMirroredStrategy`, since Keras 3's `model.fit` fails under it
(keras-team/keras#20585).

Same model, loss, optimizer and run directory as `model.fit`: per-epoch
validation PCKh (torso PCK without head boxes), learning-rate drop on its
plateau, CSV log, NaN stop, and `final.keras`, written by the chief
(worker 0) only. Crash safety comes from `tf.train.CheckpointManager`
every `backup_every_steps` steps: the epoch, the step within it, the
optimizer (with its learning rate) and the plateau counters are restored,
so rerunning the same command continues.
Every worker must take part in each save (the variables are synchronised by
collectives); non-chief workers write to a throwaway folder.
"""

import csv
import dataclasses
import math
import shutil
import tempfile
from pathlib import Path

import numpy as np
import tensorflow as tf

from keras_hourglass.model import stack_index_of_output
from training.callbacks import choose_validation
from training.callbacks import run_paths
from training.config import scheduled_learning_rate
from training.custom_loop import distribute_global_batches
from training.custom_loop import make_statistics_sync
from training.custom_loop import make_train_step
from training.distribute import cluster_spec_from_environment
from training.distribute import is_chief_worker
from training.distribute import make_optimizer
from training.distribute import set_precision_policy
from training.distribute import wrap_optimizer_for_precision


class TrainingState(tf.Module):
    """Counters saved with the weights: epoch, step in epoch, plateau."""

    def __init__(self):
        super().__init__()
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.step_in_epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.best_pckh = tf.Variable(-1.0, dtype=tf.float64, trainable=False)
        self.epochs_without_gain = tf.Variable(0, dtype=tf.int64, trainable=False)


def plateau_update(state, pckh, optimizer, config):
    """ReduceLROnPlateau (mode max) on `pckh`; returns the new learning rate."""
    learning_rate = float(optimizer.learning_rate.numpy())
    if pckh > float(state.best_pckh.numpy()):
        state.best_pckh.assign(pckh)
        state.epochs_without_gain.assign(0)
        return learning_rate
    state.epochs_without_gain.assign_add(1)
    if int(state.epochs_without_gain.numpy()) >= config.lr_drop_patience:
        learning_rate = max(
            learning_rate * config.lr_drop_factor, config.min_learning_rate
        )
        optimizer.learning_rate.assign(learning_rate)
        state.epochs_without_gain.assign(0)
        print(f"validation PCKh plateau: learning rate -> {learning_rate:g}")
    return learning_rate


def checkpoint_directory(run_dir, chief):
    """Where this worker saves: `run_dir/backup_mw`, or a temp folder."""
    if chief:
        return str(Path(run_dir) / "backup_mw")
    return tempfile.mkdtemp(prefix="hourglass_worker_backup_")


def append_csv_row(path, row):
    """Appends one epoch row, writing the header for a new file."""
    path = Path(path)
    new_file = not path.exists()
    with path.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(row))
        if new_file:
            writer.writeheader()
        writer.writerow(row)


def predict_in_batches(model, images, batch_size=16):
    """Every output of `model` on `images`, as a list of NumPy arrays. The
    model is called directly, so no strategy collective is involved."""
    chunks = []
    for start in range(0, len(images), batch_size):
        outputs = model(images[start : start + batch_size], training=False)
        outputs = outputs if isinstance(outputs, list | tuple) else [outputs]
        chunks.append([np.asarray(output) for output in outputs])
    return [np.concatenate(parts) for parts in zip(*chunks)]


def epoch_validation(model, validation):
    """{`<monitor>_stack{i}`, ..., `<monitor>`} on the validation subset, the
    monitor being `val_pckh` or `val_pck` (see `choose_validation`)."""
    logs = {}
    for name, heatmaps in zip(
        model.output_names, predict_in_batches(model, validation.subset["images"])
    ):
        stack = f"stack{stack_index_of_output(name)}"
        logs[f"{validation.monitor}_{stack}"] = validation.callback.stack_pckh(heatmaps)
    logs[validation.monitor] = list(logs.values())[-1]
    return logs


def share_chief_value(strategy, value):
    """Returns the chief's `value` on every worker: global replica 0 (on the
    chief) contributes it, every other replica 0, and the sum is all-reduced."""

    def contribute():
        first = tf.distribute.get_replica_context().replica_id_in_sync_group == 0
        return tf.where(first, tf.constant(value, tf.float32), 0.0)

    return float(strategy.reduce("SUM", strategy.run(contribute), axis=None))


def run_custom_loop(config, strategy, metadata, train_files, valid_files):
    """Trains under `strategy` with the custom loop; returns the model."""
    import keras

    from training.train import build_model
    from training.train import make_datasets
    from training.train import steps_per_epoch

    chief = is_chief_worker()
    paths = run_paths(config.run_dir)
    # The same seed on every worker gives every worker the same initial
    # weights (Keras 3 variables are not broadcast from the chief).
    keras.utils.set_random_seed(config.seed)
    with strategy.scope():
        model = build_model(config, metadata["num_joints"])
        optimizer = wrap_optimizer_for_precision(
            make_optimizer(config.optimizer, config.learning_rate), config.precision
        )
        optimizer.build(model.trainable_variables)
        state = TrainingState()
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, state=state)
    directory = checkpoint_directory(config.run_dir, chief)
    manager = tf.train.CheckpointManager(checkpoint, directory, max_to_keep=2)
    if manager.latest_checkpoint:
        checkpoint.restore(manager.latest_checkpoint)
        print(
            f"resumed from {manager.latest_checkpoint}: epoch "
            f"{int(state.epoch.numpy()) + 1}, step {int(state.step_in_epoch.numpy())}"
        )
    steps = steps_per_epoch(config, metadata)
    done = int(state.epoch.numpy()) * steps + int(state.step_in_epoch.numpy())

    def make_global_dataset():
        # A fresh seed after a resume, so the continued run does not replay the
        # batches (and augmentations) it already trained on.
        resumed = dataclasses.replace(config, seed=config.seed + done)
        train, _ = make_datasets(
            resumed,
            metadata,
            train_files,
            valid_files,
            model.output_names,
            deterministic=True,
        )
        return train

    iterator = iter(
        distribute_global_batches(strategy, make_global_dataset, config.batch_size)
    )
    train_step = make_train_step(strategy, model, optimizer, config.batch_size)
    sync_statistics = make_statistics_sync(strategy, model)
    validation = None
    if chief:
        validation = choose_validation(config, metadata, valid_files)
    while int(state.epoch.numpy()) < config.epochs:
        epoch = int(state.epoch.numpy())
        if config.lr_drop_epochs:
            optimizer.learning_rate.assign(scheduled_learning_rate(config, epoch))
        losses = []
        while int(state.step_in_epoch.numpy()) < steps:
            loss, per_stack = train_step(iterator)
            if not math.isfinite(float(loss)):
                raise SystemExit(
                    f"ERROR: the loss became {float(loss)} at epoch {epoch + 1}; "
                    f"training stopped; the last good backup is in {directory}"
                )
            losses.append([float(loss)] + [float(value) for value in per_stack])
            state.step_in_epoch.assign_add(1)
            if int(state.step_in_epoch.numpy()) % config.backup_every_steps == 0:
                manager.save()
        sync_statistics()
        row = {"epoch": epoch, "learning_rate": float(optimizer.learning_rate.numpy())}
        means = np.mean(losses, axis=0) if losses else [float("nan")]
        row["loss"] = float(means[0])
        for name, value in zip(model.output_names, means[1:]):
            row[f"{name}_loss"] = float(value)
        if chief:
            row.update(epoch_validation(model, validation))
            print(
                f"epoch {epoch + 1}: "
                + ", ".join(f"{k} {v:.4g}" for k, v in row.items())
            )
        # Every worker must apply the same learning rate, so all follow the
        # chief's score (the other workers hold no validation subset).
        score = row[validation.monitor] if chief else -1.0
        score = share_chief_value(strategy, score)
        if not config.lr_drop_epochs:
            plateau_update(state, score, optimizer, config)
        state.epoch.assign_add(1)
        state.step_in_epoch.assign(0)
        manager.save()
        if chief:
            append_csv_row(paths["csv"], row)
    if chief:
        model.save(paths["final"])
        print(f"saved {paths['final']}")
    else:
        # Kept so that a test (or a user) can check every worker ended equal.
        index = cluster_spec_from_environment()["task"]["index"]
        Path(config.run_dir).mkdir(parents=True, exist_ok=True)
        model.save_weights(Path(config.run_dir) / f"final_worker{index}.weights.h5")
        shutil.rmtree(directory, ignore_errors=True)
    return model


def train_multi_worker(config, metadata, train_files, valid_files):
    """Entry point of `training.train` when `TF_CONFIG` is set."""
    from training.config import check_replica_batch

    set_precision_policy(config.precision)
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    check_replica_batch(config, strategy.num_replicas_in_sync)
    print(f"multi-worker training on {strategy.num_replicas_in_sync} replica(s)")
    return run_custom_loop(config, strategy, metadata, train_files, valid_files)
