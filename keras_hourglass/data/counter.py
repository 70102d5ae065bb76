"""The one counter of what the input pipeline could not read.

The pipeline trusts the converter's shards; what can still go wrong is counted
here, never silently trained on:

- a damaged shard: `TFRecordDataset` stops at its first damaged record. Each
  shard is read by its own dataset that ends quietly there and then compares
  the bytes read (plus framing) with the file's size and the records read with
  the shard's expected count; the difference is its lost records.
- an unreadable record, whose preparation raised in the graph: `ignore_errors`
  drops it and `map_and_count` counts the gap it leaves in the positions.

A repeated dataset counts each once per pass (a cached one reads shards once).
"""

import os
from pathlib import Path

import tensorflow as tf

from keras_hourglass.data.metadata import split_files

# Per record: an 8-byte length, its 4-byte CRC, the data, the data's 4-byte CRC.
RECORD_FRAMING_BYTES = 16


def round_robin_counts(count, num_shards):
    """Records per shard when `count` records are dealt round-robin into
    `num_shards` shards, as `keras_hourglass.data.shards` writes them."""
    return [len(range(index, count, num_shards)) for index in range(num_shards)]


class RecordCounter:
    """Records read, lost to damaged shards and unreadable, in `tf.Variable`s
    the dataset graph updates, for the shards `files` and the records each
    should hold (`expected_counts`; -1: unknown, None: all unknown)."""

    def __init__(self, files, expected_counts=None):
        self.files = [str(path) for path in files]
        size = len(self.files)
        expected = [int(n) for n in expected_counts or [-1] * size]
        if len(expected) != size:
            raise ValueError(f"{len(expected)} expected counts for {size} shards")
        self.expected_counts = expected
        self.file_bytes = [tf.io.gfile.stat(path).length for path in self.files]
        per_shard = lambda: tf.Variable(tf.zeros([size], tf.int64), trainable=False)  # noqa: E731
        scalar = lambda: tf.Variable(0, dtype=tf.int64, trainable=False)  # noqa: E731
        self.records_read = per_shard()
        self.records_lost = per_shard()
        self.damaged_passes = per_shard()
        self.pass_records = per_shard()
        self.pass_bytes = per_shard()
        self.unreadable = scalar()
        self.used = scalar()
        self.samples_started = scalar()
        self.next_position = scalar()

    @classmethod
    def for_split(cls, metadata, split):
        """A counter for the shards of `split` in `read_metadata`'s dict, which
        hold the split's count dealt round-robin (as the converter writes)."""
        files = split_files(metadata, split)
        count = metadata["splits"][split]["count"]
        return cls(files, round_robin_counts(count, len(files)))

    def index_of(self, path):
        """The position of `path` in `files` (ValueError when unknown)."""
        absolute = [os.path.abspath(known) for known in self.files]
        return absolute.index(os.path.abspath(str(path)))

    # === Damaged shards ===

    def read_shard(self, index, path):
        """The records of one shard, counted; damage ends it quietly and is
        counted at its end."""
        records = tf.data.TFRecordDataset(path).ignore_errors()
        counted = records.map(lambda record: self._count_record(index, record))
        end = tf.data.Dataset.range(1).map(lambda _: self._end_shard_pass(index))
        return counted.concatenate(end.filter(lambda _: tf.constant(False)))

    def _count_record(self, index, record):
        """Adds one record of shard `index`; returns `record`."""
        size = tf.strings.length(record, unit="BYTE") + RECORD_FRAMING_BYTES
        position, size = [[index]], tf.reshape(tf.cast(size, tf.int64), [1])
        counted = [
            self.pass_records.scatter_nd_add(position, [1]),
            self.pass_bytes.scatter_nd_add(position, size),
        ]
        with tf.control_dependencies(counted):
            return tf.identity(record)

    def _end_shard_pass(self, index):
        """Counts the records lost by a pass over shard `index` that stopped
        short of its end, resets the pass counts and returns a dropped element."""
        read = self.pass_records[index]
        read_bytes = self.pass_bytes[index]
        missing_bytes = tf.constant(self.file_bytes, tf.int64)[index] - read_bytes
        expected = tf.constant(self.expected_counts, tf.int64)[index]
        mean_record = tf.maximum(tf.math.floordiv(read_bytes, tf.maximum(read, 1)), 1)
        estimate = tf.math.floordiv(missing_bytes + mean_record - 1, mean_record)
        # A cut on a record boundary leaves no missing bytes, only missing records.
        damaged = (missing_bytes > 0) | ((expected >= 0) & (read < expected))
        lost = tf.where(expected >= 0, expected - read, estimate)
        lost = tf.where(damaged, tf.maximum(lost, 1), tf.constant(0, tf.int64))
        position = [[index]]
        updates = [
            self.records_read.scatter_nd_add(position, tf.reshape(read, [1])),
            self.records_lost.scatter_nd_add(position, tf.reshape(lost, [1])),
            self.damaged_passes.scatter_nd_add(
                position, tf.reshape(tf.cast(damaged, tf.int64), [1])
            ),
        ]
        with tf.control_dependencies(updates):
            resets = [
                self.pass_records.scatter_nd_update(position, [0]),
                self.pass_bytes.scatter_nd_update(position, [0]),
            ]
        with tf.control_dependencies(resets):
            return tf.constant("")

    # === Unreadable records ===

    def map_and_count(self, dataset, prepare):
        """Maps `prepare` over `dataset` in parallel (keeping order), drops and
        counts the samples whose `prepare` raised."""
        numbered = dataset.enumerate().map(
            lambda position, inputs: (position, self._start(prepare, inputs)),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
        numbered = numbered.ignore_errors(log_warning=True)
        counted = numbered.map(self._count_gap)
        spec = counted.element_spec

        def empty_element_after_counting(_):
            with tf.control_dependencies([self._count_trailing_failures()]):
                return tf.nest.map_structure(
                    lambda item: tf.zeros(item.shape, item.dtype), spec
                )

        # A final element that is filtered out: it only runs the tail count
        # once the real data is exhausted (never, for a repeated dataset).
        end = tf.data.Dataset.range(1).map(empty_element_after_counting)
        return counted.concatenate(end.filter(lambda *_: tf.constant(False)))

    def _start(self, prepare, inputs):
        started = self.samples_started.assign_add(1)
        with tf.control_dependencies([started]):
            return prepare(inputs)

    def _count_gap(self, position, element):
        """Adds the positions skipped since the previous sample; returns
        `element`. A new iterator (another `fit` call) numbers from 0 again."""
        previous = tf.where(
            position < self.next_position, tf.constant(0, tf.int64), self.next_position
        )
        counted = [
            self.unreadable.assign_add(position - previous),
            self.used.assign_add(position - previous + 1),
        ]
        with tf.control_dependencies(counted):
            moved = self.next_position.assign(position + 1)
        with tf.control_dependencies([moved]):
            return tf.nest.map_structure(tf.identity, element)

    def _count_trailing_failures(self):
        """At the end of the data every started sample has finished: the ones
        after the last produced sample failed."""
        tail = self.samples_started - self.next_position
        counted = [self.unreadable.assign_add(tail), self.used.assign_add(tail)]
        with tf.control_dependencies(counted):
            return self.next_position.assign(self.samples_started)

    # === Reports ===

    def totals(self):
        """Returns {"records_read" (shuffle buffers included), "records_used"
        (out or dropped), "records_lost", "damaged_shards", "unreadable_records"}."""
        read = self.records_read.numpy() + self.pass_records.numpy()
        return {
            "records_read": int(read.sum()),
            "records_used": int(self.used.numpy()),
            "records_lost": int(self.records_lost.numpy().sum()),
            "damaged_shards": int((self.damaged_passes.numpy() > 0).sum()),
            "unreadable_records": int(self.unreadable.numpy()),
        }

    def lost_by_shard(self):
        """Returns {shard path: records lost} for every damaged shard."""
        lost = self.records_lost.numpy()
        damaged = self.damaged_passes.numpy()
        return {
            path: int(lost[index])
            for index, path in enumerate(self.files)
            if damaged[index] > 0
        }

    def describe_losses(self):
        """One line per damaged shard: its name, folder, records lost, passes."""
        lost, damaged = self.records_lost.numpy(), self.damaged_passes.numpy()
        return [
            f"{Path(path).name} in {Path(path).parent}: {lost[index]} record(s) lost "
            f"(unreadable past a damaged record in {damaged[index]} pass(es))"
            for index, path in enumerate(self.files)
            if damaged[index] > 0
        ]
