"""Counting the records the input pipeline skips.

Two kinds of skips:

- invalid records, found by in-graph checks before decoding (wrong joint
  count, NaN/inf, scale <= 0, a joint far outside the image, image bytes that
  are empty, not JPEG/PNG or truncated): logged to stderr naming the image id
  and counted where they are dropped;
- undecodable images, which only fail inside the decoder (or whose decoded
  size disagrees with the record): `ignore_errors` drops them (TensorFlow logs
  the error as a warning) and `count_undecodable` counts them from the gaps in
  the positions of the samples that come out.
"""

import tensorflow as tf


class SkipCounter:
    """Skip counts held in `tf.Variable`s that the dataset graph updates.

    `invalid_records` is exact at any time. `undecodable_images` is exact for
    every sample before the latest one produced; failures at the very end of a
    finite dataset are added when iteration reaches the end. Counts add up
    over passes: a repeated dataset counts a bad record once per epoch.
    """

    def __init__(self):
        variable = lambda: tf.Variable(0, dtype=tf.int64, trainable=False)  # noqa: E731
        self.invalid_records = variable()
        self.undecodable = variable()
        self.decodes_started = variable()
        self.next_position = variable()

    @property
    def undecodable_images(self):
        return int(self.undecodable.numpy())

    @property
    def total(self):
        return int(self.invalid_records.numpy()) + self.undecodable_images

    def as_dict(self):
        """Returns the counts as plain ints, e.g. for a training log."""
        return {
            "invalid_records": int(self.invalid_records.numpy()),
            "undecodable_images": self.undecodable_images,
        }


def count_position_gap(position, element, skip_counter):
    """Adds the positions skipped since the previous sample; returns `element`.

    Must run sequentially on an order-preserving stream of
    `(position, element)` pairs whose positions were numbered before decoding.
    """
    gap = position - skip_counter.next_position
    added = skip_counter.undecodable.assign_add(gap)
    with tf.control_dependencies([added]):
        moved = skip_counter.next_position.assign(position + 1)
    with tf.control_dependencies([moved]):
        return tf.nest.map_structure(tf.identity, element)


def count_trailing_failures(skip_counter):
    """At the end of the data every started decode has finished: the ones
    after the last produced sample failed."""
    tail = skip_counter.decodes_started - skip_counter.next_position
    added = skip_counter.undecodable.assign_add(tail)
    with tf.control_dependencies([added]):
        return skip_counter.next_position.assign(skip_counter.decodes_started)


def count_undecodable(dataset, skip_counter):
    """Returns `dataset` of `(position, element)` as a dataset of `element`,
    counting the positions that never came out (their decode failed)."""
    counted = dataset.map(
        lambda position, element: count_position_gap(position, element, skip_counter)
    )
    spec = counted.element_spec

    def empty_element_after_counting(_):
        with tf.control_dependencies([count_trailing_failures(skip_counter)]):
            return tf.nest.map_structure(
                lambda item: tf.zeros(item.shape, item.dtype), spec
            )

    # A final element that is filtered out: it only runs the tail count once
    # the real data is exhausted (never, for a repeated dataset).
    end = tf.data.Dataset.range(1).map(empty_element_after_counting)
    return counted.concatenate(end.filter(lambda *_: tf.constant(False)))
