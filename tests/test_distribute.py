"""Choosing the distribution strategy and the optimizer."""

import pytest
import tensorflow as tf

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
