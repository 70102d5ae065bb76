"""Reading TFRecord shards one at a time, counting what each one loses.

`TFRecordDataset` stops reading a file at its first damaged record (a
`DataLossError`: truncated file, random bytes, a bad checksum) and moves to
the next file; the records after it are gone. Left to an `ignore_errors`
further down the pipeline, that loss is silent. Here every shard is read by
its own small dataset that ends quietly at the damage, then checks whether
it consumed the whole file: the bytes of the records read (each framed by
16 bytes of length and checksums) must add up to the file's size, and the
records read must reach the shard's expected count. A shard that falls
short is counted as damaged, and its lost records are the
shard's expected count (from `dataset.json`) minus the records read, or an
estimate from the missing bytes when the count is unknown.

    counter = ShardReadCounter.for_split(metadata, "train")
    dataset = make_dataset(..., read_counter=counter)
    ...
    counter.lost_by_shard()   # {"/data/train-00001-of-00002.tfrecord": 12}
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


class ShardReadCounter:
    """Records read and lost per shard, in `tf.Variable`s the dataset updates.

    Counts add up over passes: a repeated dataset counts a damaged shard once
    per pass (a cached one only on its first pass).

    Args:
        files: list of str. The shard paths, in the order given to the reader.
        expected_counts: list of int or None. Records each shard should hold
            (-1 or None: unknown).
    """

    def __init__(self, files, expected_counts=None):
        self.files = [str(path) for path in files]
        size = len(self.files)
        expected = list(expected_counts or [-1] * size)
        if len(expected) != size:
            raise ValueError(f"{len(expected)} expected counts for {size} shards")
        self.expected_counts = [-1 if n is None else int(n) for n in expected]
        self.file_bytes = [tf.io.gfile.stat(path).length for path in self.files]
        zeros = lambda: tf.Variable(tf.zeros([size], tf.int64), trainable=False)  # noqa: E731
        self.records_read = zeros()
        self.records_lost = zeros()
        self.damaged_passes = zeros()
        self.pass_records = zeros()
        self.pass_bytes = zeros()

    @classmethod
    def for_split(cls, metadata, split):
        """A counter for the shards of `split` in a `dataset.json` dict; the
        expected counts are its `shard_counts` or, without them, the split's
        count dealt round-robin (how the converter writes shards)."""
        files = split_files(metadata, split)
        info = metadata["splits"][split]
        counts = info.get("shard_counts")
        if counts is None and "count" in info:
            counts = round_robin_counts(int(info["count"]), len(files))
        return cls(files, counts)

    def index_of(self, path):
        """The position of `path` in `files` (ValueError when unknown)."""
        absolute = [os.path.abspath(known) for known in self.files]
        return absolute.index(os.path.abspath(str(path)))

    def count_record(self, index, record):
        """Adds one record of shard `index`; returns `record`."""
        size = tf.strings.length(record, unit="BYTE") + RECORD_FRAMING_BYTES
        position, size = [[index]], tf.reshape(tf.cast(size, tf.int64), [1])
        counted = [
            self.pass_records.scatter_nd_add(position, [1]),
            self.pass_bytes.scatter_nd_add(position, size),
        ]
        with tf.control_dependencies(counted):
            return tf.identity(record)

    def end_shard_pass(self, index):
        """At the end of one pass over shard `index`: counts its lost records
        when it was not read to its last byte, then resets the pass counts.
        Returns an empty string (an element that is filtered out)."""
        read = self.pass_records[index]
        read_bytes = self.pass_bytes[index]
        missing_bytes = tf.constant(self.file_bytes, tf.int64)[index] - read_bytes
        expected = tf.constant(self.expected_counts, tf.int64)[index]
        mean_record = tf.math.floordiv(read_bytes, tf.maximum(read, 1))
        estimate = tf.math.floordiv(
            missing_bytes + tf.maximum(mean_record, 1) - 1, tf.maximum(mean_record, 1)
        )
        # A cut on a record boundary leaves no partial bytes: only the count
        # of records the shard should hold shows the loss.
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

    def read_shard(self, index, path):
        """The records of one shard, counted; damage ends the shard quietly
        and is counted when its end is reached."""
        records = tf.data.TFRecordDataset(path).ignore_errors()
        counted = records.map(lambda record: self.count_record(index, record))
        end = tf.data.Dataset.range(1).map(lambda _: self.end_shard_pass(index))
        return counted.concatenate(end.filter(lambda _: tf.constant(False)))

    def totals(self):
        """Returns {"records_read", "records_lost", "damaged_shards"} as ints
        (records read counts finished passes over each shard, plus the one
        in progress)."""
        read = self.records_read.numpy() + self.pass_records.numpy()
        return {
            "records_read": int(read.sum()),
            "records_lost": int(self.records_lost.numpy().sum()),
            "damaged_shards": int((self.damaged_passes.numpy() > 0).sum()),
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
        """One line per damaged shard, e.g. `train-00001-of-00002.tfrecord in
        /data: 12 records lost (damaged in 1 pass)`; empty when none is."""
        damaged = self.damaged_passes.numpy()
        lines = []
        for path, lost in self.lost_by_shard().items():
            passes = int(damaged[self.index_of(path)])
            lines.append(
                f"{Path(path).name} in {Path(path).parent}: {lost} record(s) lost "
                f"(unreadable past a damaged record in {passes} pass(es))"
            )
        return lines
