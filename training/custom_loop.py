"""A distributed custom training step for strategies where `model.fit` fails.

Keras 3's `model.fit` does not run under `MultiWorkerMirroredStrategy`
(keras-team/keras#20585), so the multi-worker program trains with
`strategy.run` over the same model, masked heatmap loss and optimizer.

Data split: every input pipeline builds the same stream of GLOBAL batches
and keeps its own contiguous slice, which it splits into per-replica batches
in order. Replica r of the job therefore always sees rows
[r * b, (r + 1) * b) of each global batch (b = global / replicas), whatever
mix of machines and local devices the replicas live on, so one process with
two local replicas computes exactly what two one-replica workers compute.
"""

import tensorflow as tf

from keras_hourglass.losses import masked_heatmap_loss


def slice_for_pipeline(batch, pipeline_id, num_pipelines):
    """Returns this pipeline's contiguous share of a global batch (any nest)."""

    def take_share(tensor):
        share = tf.shape(tensor)[0] // num_pipelines
        return tensor[pipeline_id * share : (pipeline_id + 1) * share]

    return tf.nest.map_structure(take_share, batch)


def distribute_global_batches(strategy, make_global_dataset, global_batch_size):
    """Returns a distributed dataset of per-replica batches (see module doc).

    Args:
        strategy: a `tf.distribute.Strategy`.
        make_global_dataset: callable returning a dataset of global batches
            `(images, targets, weights)` with a fixed first dimension.
        global_batch_size: int. Rows per global batch.
    """

    def dataset_fn(context):
        per_replica = context.get_per_replica_batch_size(global_batch_size)
        dataset = make_global_dataset().map(
            lambda *batch: slice_for_pipeline(
                batch, context.input_pipeline_id, context.num_input_pipelines
            )
        )
        return dataset.unbatch().batch(per_replica, drop_remainder=True)

    return strategy.distribute_datasets_from_function(dataset_fn)


def as_output_list(values):
    """A model output, or a tuple of targets/weights, as a list."""
    return list(values) if isinstance(values, list | tuple) else [values]


def replica_loss(model, images, targets, weights, global_batch_size):
    """This replica's share of the global loss, and of each stack's loss.

    Each replica divides its weighted sum by the GLOBAL number of (sample,
    joint) terms, so the sum over replicas is the global-batch mean, the
    value `model.fit` logs on one device.
    """
    outputs = as_output_list(model(images, training=True))
    share = tf.cast(tf.shape(images)[0], tf.float32) / float(global_batch_size)
    per_stack = [
        masked_heatmap_loss(target, output, weight) * share
        for target, output, weight in zip(
            as_output_list(targets), outputs, as_output_list(weights)
        )
    ]
    return tf.add_n(per_stack), per_stack


def make_train_step(strategy, model, optimizer, global_batch_size, jit_compile=False):
    """Returns `train_step(iterator) -> (loss, [loss per stack])`, summed over
    replicas. The optimizer all-reduces (sums) the gradients."""

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
    """Returns `sync()`, which sets every non-trainable variable (batch-norm
    moving statistics) to its mean over all replicas.

    Keras 3 updates each replica's moving statistics from its own batch only
    and never aggregates them, so workers would drift apart and the chief
    would save statistics of a fraction of the data.
    """

    variables = list(model.non_trainable_variables)

    def read_local_copies():
        return [tf.identity(variable.value) for variable in variables]

    @tf.function
    def sync():
        local_copies = strategy.run(read_local_copies)
        for variable, values in zip(variables, local_copies):
            variable.assign(strategy.reduce("MEAN", values, axis=None))

    return sync
