"""What the training data lost, reported every epoch, and a run that stops
when its data is unusable.

Records go missing in two ways, both counted by the training dataset's
`keras_hourglass.data.counter.RecordCounter`: a damaged shard (its records
after the damage) and an unreadable record (one that fails to parse, fails
its checks or whose image fails to decode). `TrainingDataCheck` prints
them after every epoch that lost any, and at the end of the first epoch of
the process it stops the run (before the backup, checkpoints and CSV log
record the epoch) when no training step ran or when more than
`max_dropped_fraction` of the records read were lost. Nothing of the run is
then marked done, so once the data is fixed the same command trains.
"""

from pathlib import Path

import keras

from keras_hourglass.data.counter import RecordCounter
from training.config import ConfigError


class TrainingDataError(ConfigError):
    """The training data is unreadable or loses too many records."""


def training_counter(metadata):
    """Returns the `RecordCounter` of the training split."""
    return RecordCounter.for_split(metadata, "train")


def dropped_counts(counter):
    """Returns {"read", "lost", "unreadable", "dropped"}: records read from
    the shards, lost to damage, and unreadable."""
    totals = counter.totals()
    counts = {
        "read": totals["records_read"],
        "lost": totals["records_lost"],
        "unreadable": totals["unreadable_records"],
    }
    counts["dropped"] = counts["lost"] + counts["unreadable"]
    return counts


def describe_drops(counts, counter):
    """A few lines: what was dropped, then each damaged shard."""
    lines = [
        f"training data: {counts['dropped']} of {counts['read'] + counts['lost']} "
        f"records dropped ({counts['lost']} lost to damaged shards, "
        f"{counts['unreadable']} unreadable records)"
    ]
    return lines + [f"  {line}" for line in counter.describe_losses()]


class TrainingDataCheck(keras.callbacks.Callback):
    """Reports dropped training records; stops a run whose data is unusable.

    Place it FIRST in the callback list, so that its error comes before any
    other callback writes the epoch to the run directory.

    Args:
        counter: `RecordCounter` of the training dataset.
        max_dropped_fraction: float. Largest share of the records read in the
            first epoch that may be lost or skipped.
    """

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
        counts = dropped_counts(self.counter)
        if not counts["dropped"]:
            return f"training data: {counts['read']} records read, none dropped"
        return "\n".join(describe_drops(counts, self.counter))
