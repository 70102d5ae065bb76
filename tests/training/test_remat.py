"""Tests for training.remat and `hourglass-train --remat`: the same step as
without rematerialisation, and files that stay plain Keras."""

import csv
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_hourglass.model import build_stacked_hourglass
from tests.train_helpers import TINY_MODEL_FLAGS
from tests.train_helpers import subprocess_environment
from training.remat import rematerialize_stacks
from training.train import main as train_main

SIZE = 64


def tiny_model(intermediate_supervision=True):
    keras.utils.set_random_seed(0)
    return build_stacked_hourglass(
        n_stacks=3, n_features=16, depth=1, input_shape=(SIZE, SIZE, 3),
        intermediate_supervision=intermediate_supervision,
    )  # fmt: skip


def one_step(model, images, targets):
    """(loss, gradients, batch-norm statistics after the step, inference
    outputs) of one compiled training forward and backward pass."""

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            outputs = model(images, training=True)
            outputs = outputs if isinstance(outputs, list) else [outputs]
            loss = tf.add_n([tf.reduce_mean((o - targets) ** 2) for o in outputs])
        return loss, tape.gradient(loss, model.trainable_variables)

    loss, gradients = step()
    statistics = [v.numpy() for v in model.non_trainable_variables]
    outputs = model(images, training=False)
    outputs = outputs if isinstance(outputs, list) else [outputs]
    return loss.numpy(), gradients, statistics, [o.numpy() for o in outputs]


@pytest.mark.parametrize("intermediate_supervision", [True, False])
def test_remat_step_equals_the_plain_step(intermediate_supervision):
    rng = np.random.default_rng(0)
    images = tf.constant(rng.random([2, SIZE, SIZE, 3]), tf.float32)
    targets = tf.constant(rng.random([2, SIZE // 4, SIZE // 4, 16]), tf.float32)
    plain = one_step(tiny_model(intermediate_supervision), images, targets)
    remat = one_step(
        rematerialize_stacks(tiny_model(intermediate_supervision)), images, targets
    )
    np.testing.assert_allclose(remat[0], plain[0], rtol=1e-6)
    assert all(g is not None for g in remat[1])
    for mine, theirs in zip(remat[1], plain[1]):
        np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-6)
    # Moving statistics are updated once, not again by the recomputation.
    for mine, theirs in zip(remat[2], plain[2]):
        np.testing.assert_allclose(mine, theirs, rtol=1e-6, atol=1e-7)
    for mine, theirs in zip(remat[3], plain[3]):
        np.testing.assert_allclose(mine, theirs, rtol=1e-6, atol=1e-7)


RELOAD_SCRIPT = """
import sys
import keras
import numpy as np
model = keras.saving.load_model(sys.argv[1])
images = np.load(sys.argv[2])
np.save(sys.argv[3], np.stack([o for o in model(images, training=False)]))
"""


def test_remat_training_run_saves_a_plain_keras_model(tiny_shards, tmp_path):
    run_dir = tmp_path / "run"
    flags = [
        *TINY_MODEL_FLAGS, "--data-dir", str(tiny_shards), "--run-dir", str(run_dir),
        "--batch-size", "4", "--epochs", "1", "--steps-per-epoch", "3", "--remat",
    ]  # fmt: skip
    train_main(flags)
    with (run_dir / "training_log.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert rows and np.isfinite(float(rows[0]["loss"]))
    images = np.random.default_rng(1).random([2, SIZE, SIZE, 3], dtype=np.float32)
    np.save(tmp_path / "images.npy", images)
    subprocess.run(
        [sys.executable, "-c", RELOAD_SCRIPT, str(run_dir / "final.keras"),
         str(tmp_path / "images.npy"), str(tmp_path / "reloaded.npy")],
        cwd=tmp_path, env=subprocess_environment(PYTHONPATH=""), check=True,
        capture_output=True, timeout=120,
    )  # fmt: skip
    reloaded = np.load(tmp_path / "reloaded.npy")
    model = keras.saving.load_model(run_dir / "final.keras")
    plain = np.stack(model(images, training=False))
    remat = np.stack(rematerialize_stacks(model)(images, training=False))
    np.testing.assert_allclose(reloaded, plain, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(remat, plain, rtol=1e-6, atol=1e-7)
