"""Choosing the distribution strategy and the optimizer."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_hourglass.losses import joint_heatmap_mse
from keras_hourglass.model import build_stacked_hourglass
from training.distribute import build_training_state
from training.distribute import choose_strategy
from training.distribute import local_devices_for_replicas
from training.distribute import make_optimizer


@pytest.fixture(autouse=True)
def no_cluster(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)


def test_auto_policy_on_one_device_is_the_default_strategy():
    if len(local_devices_for_replicas()) != 1:
        pytest.skip("this process sees several devices")
    strategy = choose_strategy("auto")
    assert strategy is tf.distribute.get_strategy()
    assert strategy.num_replicas_in_sync == 1


def test_mirrored_policy_always_mirrors():
    strategy = choose_strategy("mirrored")
    assert isinstance(strategy, tf.distribute.MirroredStrategy)
    assert strategy.num_replicas_in_sync == len(local_devices_for_replicas())


def test_rmsprop_has_torch_defaults():
    optimizer = make_optimizer("rmsprop", 2.5e-4)
    assert optimizer.rho == pytest.approx(0.99)
    assert optimizer.epsilon == pytest.approx(1e-8)


def tiny_fit_setup():
    model = build_stacked_hourglass(
        n_stacks=2, n_joints=3, n_features=8, depth=1, input_shape=(16, 16, 3)
    )
    model.compile(
        optimizer=keras.optimizers.RMSprop(1e-3),
        loss=[joint_heatmap_mse, joint_heatmap_mse],
    )
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(4, 16, 16, 3)).astype("float32")
    targets = rng.uniform(size=(4, 4, 4, 3)).astype("float32")
    weights = np.ones((4, 3), "float32")
    dataset = tf.data.Dataset.from_tensors(
        (images, (targets, targets), (weights, weights))
    ).repeat()
    return model, dataset


def variables_created_by_fit(model, dataset):
    created = []

    def record(next_creator, **kwargs):
        created.append(kwargs.get("name"))
        return next_creator(**kwargs)

    with tf.variable_creator_scope(record):
        model.fit(dataset, steps_per_epoch=1, epochs=1, verbose=0)
    return created


def test_training_state_is_built_before_fit_traces_the_step():
    # Variables created while tracing make TensorFlow trace the step twice.
    model, dataset = tiny_fit_setup()
    strategy = tf.distribute.get_strategy()
    build_training_state(model, strategy, dataset)
    assert model.optimizer.built
    assert variables_created_by_fit(model, dataset) == []


def test_without_it_the_default_strategy_builds_while_tracing():
    # Guards the reason for build_training_state: if Keras starts building
    # up front itself, this fails and the helper can go.
    model, dataset = tiny_fit_setup()
    assert variables_created_by_fit(model, dataset) != []
