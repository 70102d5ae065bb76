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

The config reaches `fit` in one pass down this file: flags -> `TrainConfig`
(`training.config`) -> dataset files, model, optimizer and
input pipelines (`training.builders`) -> callbacks (`training.callbacks`) ->
`model.fit`, once per `training.resume.plan_fit_calls` entry.
"""

import logging
import os
import sys
from contextlib import nullcontext
from dataclasses import replace

import keras

from training.builders import build_model
from training.builders import compile_model
from training.builders import make_datasets
from training.builders import read_dataset
from training.builders import steps_per_epoch
from training.callbacks import build_callbacks
from training.callbacks import choose_validation
from training.callbacks import run_paths
from training.config import ConfigError
from training.config import check_replica_batch
from training.config import parse_config
from training.config import save_config
from training.data_checks import TrainingDataCheck
from training.data_checks import training_counter
from training.distribute import build_training_state
from training.distribute import choose_strategy
from training.distribute import is_chief_worker
from training.distribute import is_multi_worker
from training.distribute import set_precision_policy
from training.folder_lock import lock_run_directory
from training.multiworker import start_multi_worker_strategy
from training.multiworker import train_multi_worker
from training.resume import plan_fit_calls
from training.resume import restore_backup
from training.run_completion import finish_run
from training.run_completion import summarize_run

logger = logging.getLogger(__name__)


def train_single_machine(config, metadata, train_files, valid_files):
    """Runs `model.fit` under `MirroredStrategy`, resuming from the run's
    backup at the step it was written; returns the Keras History of the
    last `fit` call (None when the backup was already at the end)."""
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
        resume_state = restore_backup(model, paths, steps) or {}
    seed = config.seed + resume_state.get("global_step", 0)
    # A resumed run draws fresh shuffles and augmentations instead of
    # replaying the first batches of the run.
    keras.utils.set_random_seed(seed)
    counter = training_counter(metadata)
    train, valid = make_datasets(
        replace(config, seed=seed), metadata, train_files, valid_files,
        model.output_names, counter=counter,
    )  # fmt: skip
    data_check = TrainingDataCheck(counter, config.max_dropped_fraction)
    build_training_state(model, strategy, train)
    validation = choose_validation(config, metadata, valid_files)
    callbacks, nan_guard, step_backup = build_callbacks(
        config, paths, validation, steps, resume_state
    )
    callbacks = [data_check, *callbacks]  # first: it may stop the epoch
    start = (resume_state.get("epoch", 0), resume_state.get("steps_done", 0))
    history = None
    calls = plan_fit_calls(*start, config.epochs, steps)
    if not calls:
        print(
            f"nothing left to train: {paths['backup']} is at the end of epoch "
            f"{start[0]}; raise --epochs to train on"
        )
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
    if calls:
        print(data_check.final_report())
    # Saves final.keras and exports export/1 unless already done and verified.
    finish_run(model, config, paths, metadata, step_backup.global_step)
    return history


def main(argv=None):
    """Parses flags, writes the config and trains; returns the History."""
    config = parse_config(argv)
    # One program at a time writes to a run directory (the chief of a
    # multi-worker job speaks for it).
    lock = lock_run_directory if is_chief_worker() else lambda *_: nullcontext()
    try:
        # Before reading the dataset, which starts TensorFlow's runtime.
        strategy = start_multi_worker_strategy() if is_multi_worker() else None
        metadata, train_files, valid_files = read_dataset(config)
        with lock(config.run_dir, "training.train"):
            if is_chief_worker():
                save_config(config, os.path.join(config.run_dir, "config.json"))
            if is_multi_worker():
                history = train_multi_worker(
                    config, strategy, metadata, train_files, valid_files
                )
            else:
                history = train_single_machine(
                    config, metadata, train_files, valid_files
                )
        if is_chief_worker():
            print(summarize_run(config))
        return history
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
