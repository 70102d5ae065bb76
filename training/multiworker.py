"""Training on several machines (`TF_CONFIG` set): a custom loop under
`MultiWorkerMirroredStrategy`, since Keras 3's `model.fit` fails under it
(keras-team/keras#20585).

The loop stands in for `fit` only: it drives the callbacks of
`training.callbacks.build_callbacks` on every worker (the learning rate must
change everywhere at once); only the chief (worker 0) writes into the run
directory. Every worker resumes from the chief's backup (so `--run-dir` must
be shared storage) and takes the chief's validation score, so rounding never
splits decisions. Each pipeline builds the same global batches and keeps its
contiguous slice: replica r sees rows [r * b, (r + 1) * b).
"""

import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from keras_hourglass.decoding import stack_heatmaps_list
from keras_hourglass.losses import masked_heatmap_loss
from training.builders import make_datasets
from training.builders import steps_per_epoch
from training.callbacks import build_callbacks
from training.callbacks import choose_validation
from training.callbacks import run_paths
from training.config import ConfigError
from training.config import check_replica_batch
from training.distribute import cluster_spec_from_environment
from training.distribute import is_chief_worker
from training.resume import plan_fit_calls
from training.resume import read_backup
from training.resume import start_or_resume_model
from training.run_completion import finish_run


def share_chief_value(strategy, value):
    """The chief's `value` on every worker (an all-reduced sum to which only
    global replica 0 contributes)."""

    def contribute():
        first = tf.distribute.get_replica_context().replica_id_in_sync_group == 0
        return tf.where(first, tf.constant(value, tf.float32), 0.0)

    return float(strategy.reduce("SUM", strategy.run(contribute), axis=None))


def check_workers_resume_together(strategy, global_step, run_dir):
    """Stops every worker unless all resume at the chief's step: a worker that
    cannot read the backup would start over and hang the job or diverge."""
    differs = float(global_step != share_chief_value(strategy, global_step))
    flags = strategy.run(lambda: tf.constant(differs, tf.float32))
    if float(strategy.reduce("SUM", flags, axis=None)) > 0:
        index = cluster_spec_from_environment()["task"]["index"]
        raise SystemExit(
            f"error: the workers resume at different steps (worker {index}: "
            f"global step {global_step}); every worker reads the chief's backup "
            f"in {run_dir}/backup, so --run-dir must be the same path on storage "
            "every worker can read"
        )


class ShareChiefScore(keras.callbacks.Callback):
    """Replaces the epoch's validation score by the chief's on every worker
    (a collective: every worker must run it each epoch)."""

    def __init__(self, strategy, monitor):
        super().__init__()
        self.strategy = strategy
        self.monitor = monitor

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and self.monitor in logs:
            logs[self.monitor] = share_chief_value(self.strategy, logs[self.monitor])


class EpochLossMeans:
    """Running means of the loss and each stack's loss, as `fit` logs them."""

    def __init__(self, output_names):
        self.names = ["loss"] + [f"{name}_loss" for name in output_names]
        self.sums = np.zeros(len(self.names))
        self.count = 0

    def add(self, loss, per_stack):
        self.sums += [float(loss)] + [float(value) for value in per_stack]
        self.count += 1
        return self.logs()

    def logs(self):
        means = self.sums / self.count if self.count else self.sums + np.nan
        return {name: float(value) for name, value in zip(self.names, means)}


def fit_call(model, callbacks, train_step, iterator, sync_statistics, call):
    """Trains one `plan_fit_calls` entry, calling the callbacks as `fit` does."""
    model.stop_training = False
    logs = {}
    callbacks.on_train_begin()
    for epoch in range(call["initial_epoch"], call["epochs"]):
        callbacks.on_epoch_begin(epoch)
        losses = EpochLossMeans(model.output_names)
        for step in range(call["steps_per_epoch"]):
            callbacks.on_train_batch_begin(step)
            logs = losses.add(*train_step(iterator))
            callbacks.on_train_batch_end(step, logs)
            if model.stop_training:
                break
        # Batch-norm moving statistics, averaged over replicas before the
        # epoch's validation and checkpoints read them.
        sync_statistics()
        logs = losses.logs()
        callbacks.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    callbacks.on_train_end(logs)


def train_multi_worker(config, strategy, metadata, train_files, valid_files):
    """Trains under `strategy` with the custom loop; returns the model."""
    check_replica_batch(config, strategy.num_replicas_in_sync)
    print(f"multi-worker training on {strategy.num_replicas_in_sync} replica(s)")
    chief = is_chief_worker()
    write_dir = Path(config.run_dir)
    if not chief:
        write_dir = Path(tempfile.mkdtemp(prefix="hourglass_worker_"))
    paths = run_paths(write_dir)
    steps = steps_per_epoch(config, metadata)
    # The same initial weights everywhere: Keras 3 does not broadcast them.
    keras.utils.set_random_seed(config.seed)
    # Before the restore: loading weights into mirrored variables is itself
    # a collective, which hangs or aborts when only some workers load.
    backup = read_backup(run_paths(config.run_dir)["backup"]) or {}
    check_workers_resume_together(
        strategy, backup.get("global_step", 0), config.run_dir
    )
    if config.freeze_backbone_epochs:
        raise ConfigError(
            "--freeze-backbone-epochs is for single-machine runs; a multi-worker "
            "job (TF_CONFIG) fine-tunes every layer from the start"
        )
    # Every worker resumes from the chief's backup (the others write to scratch).
    model, resume_state = start_or_resume_model(
        config, metadata["num_joints"], strategy, run_paths(config.run_dir), steps,
        chief,
    )  # fmt: skip
    done = resume_state.get("global_step", 0)

    def make_global_dataset():
        # A fresh seed after a resume, not to replay the batches already trained.
        train, _ = make_datasets(
            replace(config, seed=config.seed + done),
            metadata, train_files, valid_files, model.output_names,
            deterministic=True,
        )  # fmt: skip
        return train

    iterator = iter(
        distribute_global_batches(strategy, make_global_dataset, config.batch_size)
    )
    train_step = make_train_step(strategy, model, model.optimizer, config.batch_size)
    sync_statistics = make_statistics_sync(strategy, model)
    validation = choose_validation(config, metadata, valid_files)
    callbacks, nan_guard, step_backup = build_callbacks(
        config, paths, validation, steps, resume_state,
        after_validation=[ShareChiefScore(strategy, validation.monitor)],
    )  # fmt: skip
    start = (resume_state.get("epoch", 0), resume_state.get("steps_done", 0))
    for call in plan_fit_calls(*start, config.epochs, steps):
        step_backup.start_fit_call(call["step_offset"])
        callback_list = keras.callbacks.CallbackList(
            callbacks, add_progbar=chief and config.verbose > 0, model=model,
            verbose=config.verbose, epochs=call["epochs"],
            steps=call["steps_per_epoch"],
        )  # fmt: skip
        fit_call(model, callback_list, train_step, iterator, sync_statistics, call)
        if nan_guard.stopped_on_nan:
            raise SystemExit(f"training stopped on a NaN loss; see {paths['latest']}")
    if chief:
        # A multi-worker run does not export (README): `training.export` does.
        finish_run(
            model, replace(config, export=False), paths, metadata,
            step_backup.global_step,
        )  # fmt: skip
    else:
        # Kept so that a test (or a user) can check every worker ended equal.
        index = cluster_spec_from_environment()["task"]["index"]
        Path(config.run_dir).mkdir(parents=True, exist_ok=True)
        model.save_weights(Path(config.run_dir) / f"final_worker{index}.weights.h5")
        shutil.rmtree(write_dir, ignore_errors=True)
    return model


def slice_for_pipeline(batch, pipeline_id, num_pipelines):
    """Returns this pipeline's contiguous share of a global batch (any nest)."""

    def take_share(tensor):
        share = tf.shape(tensor)[0] // num_pipelines
        return tensor[pipeline_id * share : (pipeline_id + 1) * share]

    return tf.nest.map_structure(take_share, batch)


def distribute_global_batches(strategy, make_global_dataset, global_batch_size):
    """The per-replica slices (module doc) of `make_global_dataset()`'s global
    batches, as a distributed dataset."""

    def dataset_fn(context):
        per_replica = context.get_per_replica_batch_size(global_batch_size)
        dataset = make_global_dataset().map(
            lambda *batch: slice_for_pipeline(
                batch, context.input_pipeline_id, context.num_input_pipelines
            )
        )
        return dataset.unbatch().batch(per_replica, drop_remainder=True)

    return strategy.distribute_datasets_from_function(dataset_fn)


def replica_loss(model, images, targets, weights, global_batch_size):
    """This replica's share of the loss and each stack's loss: its mean times
    its share of the GLOBAL batch, so the sum over replicas is the global mean."""
    outputs = stack_heatmaps_list(model(images, training=True))
    share = tf.cast(tf.shape(images)[0], tf.float32) / float(global_batch_size)
    per_stack = [
        masked_heatmap_loss(target, output, weight) * share
        for target, output, weight in zip(
            stack_heatmaps_list(targets), outputs, stack_heatmaps_list(weights)
        )
    ]
    return tf.add_n(per_stack), per_stack


def make_train_step(strategy, model, optimizer, global_batch_size, jit_compile=False):
    """`train_step(iterator) -> (loss, [loss per stack])`, summed over
    replicas; the optimizer sums the gradients."""

    def replica_step(images, targets, weights):
        with tf.GradientTape() as tape:
            loss, per_stack = replica_loss(
                model, images, targets, weights, global_batch_size
            )
            scaled = optimizer.scale_loss(loss)
        gradients = tape.gradient(scaled, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return loss, per_stack

    @tf.function(jit_compile=jit_compile)
    def train_step(iterator):
        images, targets, weights = next(iterator)
        loss, per_stack = strategy.run(replica_step, args=(images, targets, weights))
        reduce = lambda value: strategy.reduce("SUM", value, axis=None)  # noqa: E731
        return reduce(loss), [reduce(value) for value in per_stack]

    return train_step


def make_statistics_sync(strategy, model):
    """`sync()` sets each non-trainable variable (batch-norm statistics) to its
    mean over replicas: Keras 3 updates each replica's from its own batch."""
    variables = list(model.non_trainable_variables)

    def read_local_copies():
        return [tf.identity(variable.value) for variable in variables]

    @tf.function
    def sync():
        local_copies = strategy.run(read_local_copies)
        for variable, values in zip(variables, local_copies):
            variable.assign(strategy.reduce("MEAN", values, axis=None))

    return sync
