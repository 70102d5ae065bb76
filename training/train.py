"""Trains a stacked hourglass network on TFRecord shards.

    python -m training.train --preset demo                      # small, CPU
    python -m training.train --preset paper --data-dir data/mpii
    python -m training.train --config runs/demo/config.json      # same run again

Flags -> `TrainConfig` (`training.config`) -> data, model and pipelines
(`training.builders`) -> callbacks (`training.callbacks`) -> `model.fit`, once
per `training.resume.plan_fit_calls` entry, so the same command after a crash
(even `kill -9`) resumes at the last backup. With `TF_CONFIG` set the run is
one worker of a multi-machine job (`training.multiworker`). A first epoch
that trained nothing or lost more than `--max-dropped-fraction` of its
records stops the run before anything records it.
"""

import math
import sys
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path

import keras

from keras_hourglass.data.counter import RecordCounter
from training.builders import check_run_dir
from training.builders import make_datasets
from training.builders import read_dataset
from training.builders import steps_per_epoch
from training.callbacks import build_callbacks
from training.callbacks import choose_validation
from training.callbacks import choose_validation_metric
from training.callbacks import run_paths
from training.config import ConfigError
from training.config import check_replica_batch
from training.config import parse_config
from training.distribute import build_training_state
from training.distribute import choose_strategy
from training.distribute import is_chief_worker
from training.distribute import is_multi_worker
from training.finetune import set_backbone_trainable
from training.finetune import set_training_phase
from training.finetune import split_fit_calls
from training.folder_lock import lock_run_directory
from training.multiworker import train_multi_worker
from training.programs import ProgramInterrupted
from training.programs import command_line
from training.programs import ignore_further_interrupts
from training.programs import program_command
from training.programs import run_main
from training.resume import plan_fit_calls
from training.resume import start_or_resume_model
from training.run_completion import finish_run
from training.run_completion import summarize_run


def train_single_machine(config, metadata, train_files, valid_files):
    """Runs `model.fit`, resuming from the run's backup; returns the History
    of the last `fit` call (None when the backup was already at the end)."""
    strategy = choose_strategy(config.strategy)
    check_replica_batch(config, strategy.num_replicas_in_sync)
    print(
        f"training on {strategy.num_replicas_in_sync} replica(s) "
        f"({type(strategy).__name__})"
    )
    paths = run_paths(config.run_dir)
    steps = steps_per_epoch(config, metadata)
    model, resume_state = start_or_resume_model(
        config, metadata["num_joints"], strategy, paths, steps
    )
    # A resumed run draws fresh shuffles and augmentations.
    seed = config.seed + resume_state.get("global_step", 0)
    keras.utils.set_random_seed(seed)
    counter = RecordCounter.for_split(metadata, "train")
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
    calls = split_fit_calls(
        plan_fit_calls(*start, config.epochs, steps), config.freeze_backbone_epochs
    )
    if not calls:
        print(
            f"nothing left to train: {paths['backup']} is at the end of epoch "
            f"{start[0]}; raise --epochs to train on"
        )
    for call in calls:
        set_training_phase(model, call["frozen"], config, strategy, train)
        step_backup.start_fit_call(call["step_offset"])
        history = model.fit(
            train,
            initial_epoch=call["initial_epoch"],
            epochs=call["epochs"],
            steps_per_epoch=call["steps_per_epoch"],
            validation_data=valid,
            validation_steps=validation_steps(config, metadata),
            callbacks=callbacks,
            verbose=config.verbose,
            shuffle=False,  # tf.data shuffles; Keras would only warn
        )
        if nan_guard.stopped_on_nan:
            raise SystemExit(f"training stopped on a NaN loss; see {paths['latest']}")
    if calls:
        print(data_check.final_report())
    set_backbone_trainable(model, True)  # final.keras records a trainable model
    finish_run(model, config, paths, metadata, step_backup.global_step)
    return history


def validation_steps(config, metadata):
    """`--validation-batches` (0: all), at most the split's batches: Keras warns,
    untruly, that training ran out of data when it runs past them or has to
    find their number by running out."""
    people = metadata["splits"].get("valid", {}).get("count", 0)
    split_batches = max(1, math.ceil(people / config.batch_size))
    return min(config.validation_batches or split_batches, split_batches)


def main(argv=None):
    """Parses flags, writes the config and trains; returns the History."""
    config = parse_config(argv)
    # The chief of a multi-worker job holds the run directory's lock.
    lock = lock_run_directory if is_chief_worker() else lambda *_: nullcontext()
    try:
        check_run_dir(config)
        # Before reading the dataset starts TensorFlow's runtime, which must
        # not have started when the multi-worker strategy sets up collectives.
        strategy = choose_strategy() if is_multi_worker() else None
        metadata, train_files, valid_files = read_dataset(config)
        choose_validation_metric(config, metadata)
        with lock(config.run_dir, "training.train"):
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
    except KeyboardInterrupt:
        # Every file the run writes is whole (atomic), so the same command resumes.
        ignore_further_interrupts()
        raise ProgramInterrupted(
            "nothing lost: the run resumes from its last backup (at most "
            f"--backup-every-steps {config.backup_every_steps} steps back) with: "
            f"{command_line('training.train', argv)}"
        ) from None


class TrainingDataError(ConfigError):
    """The training data is unreadable or loses too many records."""


def dropped_counts(counter):
    """Returns {"read", "used", "lost", "unreadable", "dropped", "fraction"}.
    Shard losses are counted as the reader (far ahead, through the shuffle
    buffer) reaches them, unreadable records as training uses them, so the
    fraction adds the two as shares of records read and of records used."""
    totals = counter.totals()
    counts = {
        "read": totals["records_read"],
        "used": totals["records_used"],
        "lost": totals["records_lost"],
        "unreadable": totals["unreadable_records"],
    }
    counts["dropped"] = counts["lost"] + counts["unreadable"]
    counts["fraction"] = min(
        1.0,
        counts["lost"] / max(counts["read"] + counts["lost"], 1)
        + counts["unreadable"] / max(counts["used"], 1),
    )
    return counts


def describe_drops(counts, counter):
    """A few lines: what was dropped, then each damaged shard."""
    lines = [
        f"training data: {counts['fraction']:.1%} of the records dropped "
        f"({counts['lost']} of {counts['read'] + counts['lost']} records read "
        f"lost to damaged shards, {counts['unreadable']} of {counts['used']} "
        "records used unreadable)"
    ]
    return lines + [f"  {line}" for line in counter.describe_losses()]


class TrainingDataCheck(keras.callbacks.Callback):
    """Reports the records `counter` saw dropped; stops a run whose first
    epoch trained nothing or dropped more than `max_dropped_fraction`. FIRST
    in the callback list, so it stops before any callback records the epoch."""

    def __init__(self, counter, max_dropped_fraction):
        super().__init__()
        self.counter = counter
        self.max_dropped_fraction = max_dropped_fraction
        self.steps = 0
        self.checked = False
        self.reported_dropped = 0

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1

    def on_epoch_end(self, epoch, logs=None):
        counts = dropped_counts(self.counter)
        if counts["dropped"] > self.reported_dropped:
            self.reported_dropped = counts["dropped"]
            print("\n".join(describe_drops(counts, self.counter)))
        if not self.checked:
            self.checked = True
            self.check_first_epoch(counts)

    def check_first_epoch(self, counts):
        """Raises TrainingDataError when the first epoch shows unusable data."""
        shards = sorted({str(Path(path).parent) for path in self.counter.files})
        where = f"the training shards in {', '.join(shards)}"
        details = "\n".join(describe_drops(counts, self.counter))
        if self.steps == 0:
            raise TrainingDataError(
                f"no usable training sample could be read from {where}; nothing "
                "was trained or saved. Fix or rewrite the shards (see "
                f"{program_command('training.make_tfrecords')}) and run the same "
                f"command again.\n{details}"
            )
        fraction = counts["fraction"]
        if fraction > self.max_dropped_fraction:
            raise TrainingDataError(
                f"the first epoch dropped {fraction:.1%} of the records of {where} "
                f"(more than --max-dropped-fraction {self.max_dropped_fraction:g}); "
                "the epoch is not recorded. Fix or rewrite the shards, or raise "
                f"--max-dropped-fraction to train on what is readable.\n{details}"
            )

    def final_report(self):
        """The run's totals, for the end of training."""
        counts = dropped_counts(self.counter)
        if not counts["dropped"]:
            return f"training data: {counts['used']} records used, none dropped"
        return "\n".join(describe_drops(counts, self.counter))


if __name__ == "__main__":
    sys.exit(run_main(main))
