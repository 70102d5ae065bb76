"""Mixed precision and XLA through the training program (a tiny model, two
steps each, in this process)."""

import math

import keras
import numpy as np
import pytest

from tests.train_helpers import TINY_MODEL_FLAGS
from training.train import main as train_main


@pytest.fixture
def shard_dir(tiny_shards):
    return tiny_shards


@pytest.fixture(autouse=True)
def restore_float32_policy():
    yield
    keras.mixed_precision.set_dtype_policy("float32")


def fit_two_steps(shard_dir, run_dir, *flags):
    """Trains two steps; returns the trained model and its History."""
    history = train_main(
        TINY_MODEL_FLAGS
        + [
            "--data-dir",
            str(shard_dir),
            "--run-dir",
            str(run_dir),
            "--batch-size",
            "2",
            "--epochs",
            "1",
            "--steps-per-epoch",
            "2",
            "--validation-people",
            "4",
            "--validation-batches",
            "1",
            "--no-export",
            "--verbose",
            "0",
            *flags,
        ]  # fmt: skip
    )
    assert math.isfinite(history.history["loss"][-1])
    iterations = keras.ops.convert_to_numpy(history.model.optimizer.iterations)
    assert int(iterations) == 2
    return history.model, history


@pytest.mark.slow
def test_mixed_bfloat16_computes_in_bfloat16_with_float32_outputs(shard_dir, tmp_path):
    model, _ = fit_two_steps(shard_dir, tmp_path, "--precision", "mixed_bfloat16")
    assert model.dtype_policy.compute_dtype == "bfloat16"
    assert all(output.dtype == "float32" for output in model.outputs)
    heatmaps = model.predict(np.zeros((1, 64, 64, 3), "float32"), verbose=0)
    assert all(stack.dtype == np.float32 for stack in heatmaps)
    assert not isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)


@pytest.mark.slow
def test_mixed_float16_trains_with_loss_scaling(shard_dir, tmp_path):
    model, _ = fit_two_steps(shard_dir, tmp_path, "--precision", "mixed_float16")
    assert model.dtype_policy.compute_dtype == "float16"
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert all(output.dtype == "float32" for output in model.outputs)


@pytest.mark.slow
def test_jit_compile_trains_with_xla(shard_dir, tmp_path):
    # One stack: XLA compiles every function the run calls, in time that
    # grows with the layers; what the flag does is the same for any size.
    model, history = fit_two_steps(
        shard_dir, tmp_path, "--jit-compile", "--n-stacks", "1"
    )
    assert model.jit_compile
    assert math.isfinite(history.history["val_loss"][-1])
