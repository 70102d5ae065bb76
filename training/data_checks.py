"""What the training data lost, reported every epoch, and a run that stops
when its data is unusable.

Records go missing in three places: a damaged shard (its records after the
damage, `keras_hourglass.data.shard_reads`), an invalid record and an
undecodable image (`keras_hourglass.data.skips`). `TrainingDataCheck` prints
them after every epoch that lost any, and at the end of the first epoch of
the process it stops the run (before the backup, checkpoints and CSV log
record the epoch) when no training step ran or when more than
`max_dropped_fraction` of the records read were lost. Nothing of the run is
then marked done, so once the data is fixed the same command trains.
"""

from pathlib import Path

import keras

from keras_hourglass.data.shard_reads import ShardReadCounter
from keras_hourglass.data.skips import SkipCounter
from training.config import ConfigError


class TrainingDataError(ConfigError):
    """The training data is unreadable or loses too many records."""


def training_counters(metadata):
    """Returns `(ShardReadCounter, SkipCounter)` for the training split."""
    return ShardReadCounter.for_split(metadata, "train"), SkipCounter()


def dropped_counts(read_counter, skip_counter):
    """Returns {"read", "lost", "invalid", "undecodable", "dropped"}: records
    read from the shards, lost to damage, and skipped as unusable."""
    totals = read_counter.totals()
    skips = skip_counter.as_dict()
    counts = {
        "read": totals["records_read"],
        "lost": totals["records_lost"],
        "invalid": skips["invalid_records"],
        "undecodable": skips["undecodable_images"],
    }
    counts["dropped"] = counts["lost"] + counts["invalid"] + counts["undecodable"]
    return counts


def describe_drops(counts, read_counter):
    """A few lines: what was dropped, then each damaged shard."""
    lines = [
        f"training data: {counts['dropped']} of {counts['read'] + counts['lost']} "
        f"records dropped ({counts['lost']} lost to damaged shards, "
        f"{counts['invalid']} invalid, {counts['undecodable']} undecodable images)"
    ]
    return lines + [f"  {line}" for line in read_counter.describe_losses()]


class TrainingDataCheck(keras.callbacks.Callback):
    """Reports dropped training records; stops a run whose data is unusable.

    Place it FIRST in the callback list, so that its error comes before any
    other callback writes the epoch to the run directory.

    Args:
        read_counter: `ShardReadCounter` of the training dataset.
        skip_counter: `SkipCounter` of the training dataset.
        max_dropped_fraction: float. Largest share of the records read in the
            first epoch that may be lost or skipped.
    """

    def __init__(self, read_counter, skip_counter, max_dropped_fraction):
        super().__init__()
        self.read_counter = read_counter
        self.skip_counter = skip_counter
        self.max_dropped_fraction = max_dropped_fraction
        self.steps = 0
        self.checked = False
        self.reported_dropped = 0

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1

    def on_epoch_end(self, epoch, logs=None):
        counts = dropped_counts(self.read_counter, self.skip_counter)
        if counts["dropped"] > self.reported_dropped:
            self.reported_dropped = counts["dropped"]
            print("\n".join(describe_drops(counts, self.read_counter)))
        if not self.checked:
            self.checked = True
            self.check_first_epoch(counts)

    def check_first_epoch(self, counts):
        """Raises TrainingDataError when the first epoch shows unusable data."""
        shards = sorted({str(Path(path).parent) for path in self.read_counter.files})
        where = f"the training shards in {', '.join(shards)}"
        details = "\n".join(describe_drops(counts, self.read_counter))
        if self.steps == 0:
            raise TrainingDataError(
                f"no usable training sample could be read from {where}; nothing "
                f"was trained or saved. Fix or rewrite the shards (see "
                f"training.make_tfrecords) and run the same command again.\n{details}"
            )
        attempted = max(counts["read"] + counts["lost"], 1)
        fraction = counts["dropped"] / attempted
        if fraction > self.max_dropped_fraction:
            raise TrainingDataError(
                f"the first epoch dropped {fraction:.1%} of the records of {where} "
                f"(more than --max-dropped-fraction {self.max_dropped_fraction:g}); "
                "the epoch is not recorded. Fix or rewrite the shards, or raise "
                f"--max-dropped-fraction to train on what is readable.\n{details}"
            )

    def final_report(self):
        """The run's totals, for the end of training."""
        counts = dropped_counts(self.read_counter, self.skip_counter)
        if not counts["dropped"]:
            return f"training data: {counts['read']} records read, none dropped"
        return "\n".join(describe_drops(counts, self.read_counter))
