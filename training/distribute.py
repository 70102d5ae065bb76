"""The `tf.distribute` strategy, optimizer and loss scaling of a run.

`TF_CONFIG` set: `MultiWorkerMirroredStrategy` (`training.multiworker`);
otherwise `MirroredStrategy` over the local GPUs or logical CPUs, or with one
device under `auto` the default strategy (no per-step scope overhead). The
batch size is GLOBAL: each replica's loss is divided by it and gradients are
summed, so the update is the same whatever the replica count.
"""

import json
import os

import keras
import tensorflow as tf


def cluster_spec_from_environment():
    """The parsed `TF_CONFIG`, None when unset or empty (ValueError if not JSON)."""
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
    devices = tf.config.list_logical_devices("GPU")
    devices = devices or tf.config.list_logical_devices("CPU")
    return [device.name for device in devices]


def choose_strategy(policy="auto"):
    """The strategy of this process for `policy` "auto" or "mirrored"."""
    if is_multi_worker():
        return tf.distribute.MultiWorkerMirroredStrategy()
    devices = local_devices_for_replicas()
    if policy == "auto" and len(devices) == 1:
        return tf.distribute.get_strategy()
    return tf.distribute.MirroredStrategy(devices=devices)


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
    """Creates the optimizer slots and per-output loss trackers up front:
    under the default strategy Keras creates them while tracing the train
    step, which makes TensorFlow trace it twice. Built from one all-zero
    batch (only shapes matter; `fit` resets the trackers each epoch)."""
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
