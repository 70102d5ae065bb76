"""Choosing the `tf.distribute` strategy, and the dtype policy / loss scaling
that go with it.

- `TF_CONFIG` set (a cluster of several machines or processes):
  `MultiWorkerMirroredStrategy`, trained by the custom loop in
  `training.multiworker` because Keras 3's `model.fit` fails under it
  (keras-team/keras#20585).
- Otherwise `MirroredStrategy` over every local accelerator, or, on a machine
  without one, over every logical CPU device. With a single device (a plain
  CPU, one GPU) the `auto` policy uses TensorFlow's default strategy instead:
  the same one-replica training without a strategy scope's overhead on the
  training step; `--strategy mirrored` forces the mirrored one.

The batch size in the config is the GLOBAL batch: each replica gets
`batch_size / num_replicas`, and gradients are summed over replicas of losses
already divided by the global batch, so the update (and the learning rate that
suits it) is the same whatever the replica count.
"""

import json
import os

import keras
import tensorflow as tf


def cluster_spec_from_environment():
    """Returns the parsed `TF_CONFIG` dict, or None when it is unset or empty.

    Raises ValueError when `TF_CONFIG` is not valid JSON.
    """
    text = os.environ.get("TF_CONFIG", "").strip()
    if not text:
        return None
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"TF_CONFIG is not valid JSON: {error}") from None
    if not spec.get("cluster"):
        return None
    return spec


def is_multi_worker():
    """True when `TF_CONFIG` describes a cluster."""
    return cluster_spec_from_environment() is not None


def is_chief_worker():
    """True for the process that writes the shared outputs (worker 0 or chief)."""
    spec = cluster_spec_from_environment()
    if spec is None:
        return True
    task = spec.get("task", {})
    if task.get("type") == "chief":
        return True
    return (
        task.get("type") == "worker"
        and int(task.get("index", 0)) == 0
        and ("chief" not in spec["cluster"])
    )


def local_devices_for_replicas():
    """The local devices to mirror over: all GPUs, else all logical CPUs."""
    gpus = tf.config.list_logical_devices("GPU")
    if gpus:
        return [device.name for device in gpus]
    return [device.name for device in tf.config.list_logical_devices("CPU")]


def choose_strategy(policy="auto"):
    """Returns the strategy for this process for `policy` "auto" or
    "mirrored" (see the module docstring)."""
    if is_multi_worker():
        return tf.distribute.MultiWorkerMirroredStrategy()
    devices = local_devices_for_replicas()
    if policy == "auto" and len(devices) == 1:
        return tf.distribute.get_strategy()
    return tf.distribute.MirroredStrategy(devices=devices)


def set_precision_policy(precision):
    """Sets the global Keras dtype policy (`float32`, `mixed_bfloat16` or
    `mixed_float16`). Must run before the model is built."""
    keras.mixed_precision.set_dtype_policy(precision)


def wrap_optimizer_for_precision(optimizer, precision):
    """Adds dynamic loss scaling for float16, whose gradients underflow
    without it; bfloat16 has float32's range and needs none."""
    if precision == "mixed_float16":
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def make_optimizer(name, learning_rate):
    """Returns the named optimizer. RMSprop with Torch's defaults (alpha 0.99,
    eps 1e-8), as pose-hg-train's `optim.rmsprop`."""
    if name == "rmsprop":
        return keras.optimizers.RMSprop(
            learning_rate=learning_rate, rho=0.99, epsilon=1e-8
        )
    if name == "adam":
        return keras.optimizers.Adam(learning_rate=learning_rate)
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=learning_rate, momentum=0.9)
    raise ValueError(f"unknown optimizer {name!r}")


def build_training_state(model, strategy, dataset):
    """Creates the optimizer slots and the per-output loss trackers up front.

    Under a real strategy `model.fit` builds both before tracing the train
    step. Under the default strategy Keras defers them to that trace, and
    variables created while tracing make TensorFlow trace the step a second
    time. The loss trackers are built from one all-zero batch of the
    dataset's target structure (targets doubling as predictions: only shapes
    matter, and `fit` resets the trackers at each epoch).
    """
    with strategy.scope():
        if tf.distribute.has_strategy():
            return  # Keras builds these itself under a real strategy
        if not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        _, target_spec, weight_spec = dataset.element_spec

        def zeros(spec):
            return tf.zeros([1, *spec.shape[1:]], spec.dtype)

        targets = tf.nest.map_structure(zeros, target_spec)
        weights = tf.nest.map_structure(zeros, weight_spec)
        model.compute_loss(y=targets, y_pred=targets, sample_weight=weights)
