"""Trains a stacked hourglass network on TFRecord shards.

    python -m training.train --preset demo                      # small, CPU
    python -m training.train --preset paper --data-dir data/mpii
    python -m training.train --config runs/demo/config.json      # same run again
    python -m training.train --preset demo --batch-size 32 --learning-rate 5e-4

Every `TrainConfig` field is a flag (`--help` lists them). The run directory
gets the resolved `config.json`, checkpoints, a crash backup, TensorBoard and
CSV logs, `final.keras` and the SavedModel `export/1/` (unless `--no-export`;
see `training.callbacks`). Running the same command after a crash (even
`kill -9`) resumes at the epoch AND step of the last backup
(`training.resume`). Validation is PCKh@0.5, or torso PCK@0.2 on data
without head boxes (LSP). With `TF_CONFIG` set the run is one worker of a
multi-machine job (`training.multiworker`).
"""

import logging
import os
import sys
from dataclasses import replace
from pathlib import Path

from keras_hourglass.tf_environment import use_program_defaults

use_program_defaults()  # before TensorFlow loads

from training.config import ConfigError  # noqa: E402
from training.config import check_data_dir  # noqa: E402
from training.config import check_replica_batch  # noqa: E402
from training.config import save_config  # noqa: E402
from training.flags import parse_config  # noqa: E402

logger = logging.getLogger(__name__)


def read_dataset(config):
    """Returns (metadata, train files, valid files) of `config.data_dir`.

    Raises ConfigError when a split is missing or empty.
    """
    from keras_hourglass.data.shards import read_metadata
    from keras_hourglass.data.shards import split_files

    try:
        metadata = read_metadata(config.data_dir)
        train_files = split_files(metadata, "train")
        valid_files = split_files(metadata, "valid")
    except (FileNotFoundError, ValueError) as error:
        raise ConfigError(str(error)) from None
    for split, files in (("train", train_files), ("valid", valid_files)):
        if not files or not metadata["splits"][split].get("count", 0):
            raise ConfigError(f"{config.data_dir}: the {split} split is empty")
    return metadata, train_files, valid_files


def build_model(config, num_joints):
    """Builds the configured network (under the current strategy scope)."""
    from keras_hourglass.model import build_stacked_hourglass

    return build_stacked_hourglass(
        n_stacks=config.n_stacks,
        n_joints=num_joints,
        n_features=config.n_features,
        n_modules=config.n_modules,
        depth=config.depth,
        input_shape=(config.input_size, config.input_size, 3),
        intermediate_supervision=config.intermediate_supervision,
    )


def make_datasets(
    config, metadata, train_files, valid_files, output_names, deterministic=False
):
    """Returns (training dataset, validation-loss dataset) for `model.fit`.

    `deterministic=True` fixes the element order (every worker of a
    multi-worker job must build the same global batches)."""
    from keras_hourglass.data.pipeline import make_dataset

    common = {
        "num_joints": metadata["num_joints"],
        "flip_pairs": metadata.get("flip_pairs", []),
        "batch_size": config.batch_size,
        "num_outputs": len(output_names),
        "input_size": config.input_size,
        "output_size": config.output_size,
        "sigma": config.sigma,
    }
    train = make_dataset(
        train_files,
        training=True,
        rotation_degrees=config.rotation_degrees,
        rotation_probability=config.rotation_probability,
        scale_factor=config.scale_factor,
        flip_probability=config.flip_probability,
        color_range=(config.color_low, config.color_high),
        cache=config.cache_records,
        repeat=True,
        shuffle_buffer=config.shuffle_buffer,
        seed=config.seed,
        deterministic=deterministic,
        **common,
    )
    valid = make_dataset(valid_files, training=False, deterministic=True, **common)
    return train, valid


def compile_model(model, config):
    """Compiles with one masked heatmap MSE per stack output (their sum is the
    loss; each is logged as `<output>_loss`)."""
    from keras_hourglass.losses import joint_heatmap_mse
    from training.distribute import make_optimizer
    from training.distribute import wrap_optimizer_for_precision

    optimizer = make_optimizer(config.optimizer, config.learning_rate)
    model.compile(
        optimizer=wrap_optimizer_for_precision(optimizer, config.precision),
        loss=[joint_heatmap_mse for _ in model.output_names],
        jit_compile=config.jit_compile,
    )
    return model


def steps_per_epoch(config, metadata):
    """The configured steps, or one pass over the training split."""
    if config.steps_per_epoch:
        return config.steps_per_epoch
    return max(1, metadata["splits"]["train"]["count"] // config.batch_size)


def train_single_machine(config, metadata, train_files, valid_files):
    """Runs `model.fit` under `MirroredStrategy`, resuming from the run's
    backup at the step it was written; returns the Keras History of the
    last `fit` call (None when the backup was already at the end)."""
    import keras

    from training.callbacks import build_callbacks
    from training.callbacks import choose_validation
    from training.callbacks import run_paths
    from training.distribute import build_training_state
    from training.distribute import choose_strategy
    from training.distribute import set_precision_policy
    from training.resume import plan_fit_calls

    set_precision_policy(config.precision)
    strategy = choose_strategy(config.strategy)
    check_replica_batch(config, strategy.num_replicas_in_sync)
    print(
        f"training on {strategy.num_replicas_in_sync} replica(s) "
        f"({type(strategy).__name__})"
    )
    paths = run_paths(config.run_dir)
    steps = steps_per_epoch(config, metadata)
    with strategy.scope():
        model = compile_model(build_model(config, metadata["num_joints"]), config)
        # Optimizer slots created by the restore must live in the scope too.
        resume_state = restore_backup(model, paths, steps)
    seed = config.seed + (resume_state or {}).get("global_step", 0)
    # A resumed run draws fresh shuffles and augmentations instead of
    # replaying the first batches of the run.
    keras.utils.set_random_seed(seed)
    train, valid = make_datasets(
        replace(config, seed=seed), metadata, train_files, valid_files,
        model.output_names,
    )  # fmt: skip
    build_training_state(model, strategy, train)
    validation = choose_validation(config, metadata, valid_files)
    callbacks, nan_guard, step_backup = build_callbacks(
        config, paths, validation, steps, resume_state
    )
    start = (
        (resume_state or {}).get("epoch", 0),
        (resume_state or {}).get("steps_done", 0),
    )
    history = None
    calls = plan_fit_calls(*start, config.epochs, steps)
    if not calls and os.path.exists(paths["final"]):
        print(
            f"nothing left to train: {paths['backup']} is at the end of epoch "
            f"{start[0]}; raise --epochs to train on"
        )
        return None
    for call in calls:
        step_backup.start_fit_call(call["step_offset"])
        history = model.fit(
            train,
            initial_epoch=call["initial_epoch"],
            epochs=call["epochs"],
            steps_per_epoch=call["steps_per_epoch"],
            validation_data=valid,
            validation_steps=config.validation_batches or None,
            callbacks=callbacks,
            verbose=config.verbose,
        )
        if nan_guard.stopped_on_nan:
            raise SystemExit(f"training stopped on a NaN loss; see {paths['latest']}")
    finish_run(model, config, paths, metadata)
    return history


def restore_backup(model, paths, steps):
    """Loads the run's backup into `model` when there is one; returns its
    state (None for a fresh run) and trims CSV rows it will redo."""
    from training.resume import read_backup
    from training.resume import restore_weights
    from training.resume import trim_csv_log

    state = read_backup(paths["backup"])
    if state is None:
        return None
    if state["steps_per_epoch"] != steps:
        raise ConfigError(
            f"{paths['backup']} was written with {state['steps_per_epoch']} steps "
            f"per epoch, now {steps}; use the same config or delete the backup"
        )
    restore_weights(model, state)
    trim_csv_log(paths["csv"], state["epoch"])
    print(
        f"resuming from {paths['backup']}: epoch {state['epoch'] + 1}, "
        f"{state['steps_done']} of {steps} steps done "
        f"(global step {state['global_step']})"
    )
    return state


def finish_run(model, config, paths, metadata):
    """Saves `final.keras` and exports the SavedModel to `run_dir/export/1`
    (unless `config.export` is False). The backup stays: running the same
    command again is then a no-op, and a larger --epochs continues the run
    with its optimizer and learning-rate state."""
    model.save(paths["final"])
    print(f"saved {paths['final']}")
    if not config.export:
        return
    from keras_hourglass.joint_sets import joint_set_from_metadata
    from keras_hourglass.serving.export import export_saved_model

    version_dir = export_saved_model(
        model, Path(config.run_dir) / "export", version=1,
        joint_set=joint_set_from_metadata(metadata), overwrite=True,
    )  # fmt: skip
    print(f"exported {version_dir}")


def main(argv=None):
    """Parses flags, writes the config and trains; returns the History."""
    config = parse_config(argv)
    try:
        check_data_dir(config)
        metadata, train_files, valid_files = read_dataset(config)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    from training.distribute import is_chief_worker
    from training.distribute import is_multi_worker

    if is_chief_worker():
        save_config(config, os.path.join(config.run_dir, "config.json"))
    if is_multi_worker():
        from training.multiworker import train_multi_worker

        return train_multi_worker(config, metadata, train_files, valid_files)
    try:
        return train_single_machine(config, metadata, train_files, valid_files)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
