"""Tests for keras_hourglass.model: structure, parameter counts, training signal,
serialisation and precision."""

import importlib.util
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_hourglass import build_stacked_hourglass
from keras_hourglass import heatmap_output_name
from keras_hourglass.model import stack_index_of_output
from tests.conftest import PROJECT_ROOT

TINY = dict(n_features=16, input_shape=(64, 64, 3))


def trainable_parameter_count(model):
    return sum(int(np.prod(weight.shape)) for weight in model.trainable_weights)


# The official Torch network's counts (256 features, 256x256 input).
OFFICIAL_COUNTS = [
    (dict(n_stacks=1), 3_426_448),
    (dict(n_stacks=2), 6_570_400),
    (dict(n_stacks=4), 12_858_304),
    (dict(n_stacks=8), 25_434_112),
    (dict(n_stacks=2, n_modules=4), 24_590_752),
    (dict(n_stacks=4, n_modules=2), 24_871_872),
    (dict(n_stacks=8, n_joints=14), 25_426_416),
    (dict(n_stacks=8, n_joints=17), 25_437_960),
]


@pytest.mark.parametrize("arguments,expected", OFFICIAL_COUNTS)
def test_trainable_parameters_equal_the_official_network(arguments, expected):
    model = build_stacked_hourglass(**arguments)
    assert trainable_parameter_count(model) == expected


def test_outputs_are_named_per_stack_with_quarter_resolution():
    model = build_stacked_hourglass(n_stacks=3, n_joints=14, **TINY)
    assert model.output_names == [heatmap_output_name(i) for i in (1, 2, 3)]
    outputs = model(np.zeros((2, 64, 64, 3), "float32"), training=False)
    assert [tuple(o.shape) for o in outputs] == [(2, 16, 16, 14)] * 3


def test_output_names_parse_back_to_their_stack():
    assert [stack_index_of_output(heatmap_output_name(i)) for i in (1, 8, 12)] == [
        1, 8, 12,
    ]  # fmt: skip
    for other in ("heatmaps", "stack1_heatmaps_extra", "stack_heatmaps"):
        assert stack_index_of_output(other) is None


def test_rectangular_input_divisible_by_the_depth_works():
    model = build_stacked_hourglass(
        n_stacks=1, n_features=8, depth=2, input_shape=(48, 80, 3)
    )
    # Keras returns a bare tensor (not a one-element list) for a single output.
    output = model(np.zeros((1, 48, 80, 3), "float32"))
    assert tuple(output.shape) == (1, 12, 20, 16)


def test_without_intermediate_supervision_only_the_last_stack_is_an_output():
    model = build_stacked_hourglass(n_stacks=2, intermediate_supervision=False, **TINY)
    assert model.output_names == ["stack2_heatmaps"]
    # The first stack still exists and feeds the second through the remaps.
    assert model.get_layer("stack1_remap_heatmaps") is not None


def test_skip_convolution_only_where_channels_change():
    model = build_stacked_hourglass(n_stacks=1, **TINY)
    names = {layer.name for layer in model.layers}
    assert "stem_res1_skip" in names  # 64 -> 128
    assert "stem_res2_skip" not in names  # 128 -> 128
    assert "stem_res3_skip" in names  # 128 -> 16
    assert not any("hg" in n and n.endswith("_skip") for n in names)


def feeds_batch_norm(weight_path):
    """True for the bias of a convolution whose output goes straight into a
    BatchNormalization: in training mode BN subtracts the batch mean, so that
    bias's gradient is zero in exact arithmetic and only round-off (or an
    exact 0.0, as seen at the 1x1 bottom of a tiny hourglass) is left."""
    layer, _, name = weight_path.rpartition("/")
    into_bn = layer == "stem_conv" or layer.endswith(("_conv1", "_conv2", "_linear"))
    return name == "bias" and into_bn


def test_every_weight_receives_a_gradient_and_nothing_is_nan():
    keras.utils.set_random_seed(0)
    model = build_stacked_hourglass(n_stacks=2, **TINY)
    images = tf.random.stateless_uniform((2, 64, 64, 3), seed=(1, 2))
    targets = tf.random.stateless_uniform((2, 16, 16, 16), seed=(3, 4))
    with tf.GradientTape() as tape:
        outputs = model(images, training=True)
        loss = tf.add_n([tf.reduce_mean((o - targets) ** 2) for o in outputs])
    gradients = tape.gradient(loss, model.trainable_weights)
    missing = [w.path for w, g in zip(model.trainable_weights, gradients) if g is None]
    assert not missing
    zero = [
        w.path
        for w, g in zip(model.trainable_weights, gradients)
        if not bool(tf.reduce_any(g != 0)) and not feeds_batch_norm(w.path)
    ]
    assert not zero
    assert all(bool(tf.reduce_all(tf.math.is_finite(g))) for g in gradients)
    assert np.isfinite(float(loss))


def test_keras_file_round_trip_in_safe_mode_gives_identical_outputs(tmp_path):
    model = build_stacked_hourglass(n_stacks=2, **TINY)
    images = np.random.default_rng(0).uniform(size=(2, 64, 64, 3)).astype("float32")
    expected = model.predict(images, verbose=0)
    path = tmp_path / "hourglass.keras"
    model.save(path)
    restored = keras.models.load_model(path, safe_mode=True)
    actual = restored.predict(images, verbose=0)
    assert restored.output_names == model.output_names
    for got, want in zip(actual, expected):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_outputs_are_float32_under_mixed_precision(policy):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        model = build_stacked_hourglass(n_stacks=2, **TINY)
        assert model.get_layer("stack1_heatmap_conv").compute_dtype != "float32"
        outputs = model(np.zeros((1, 64, 64, 3), "float32"))
    finally:
        keras.config.set_dtype_policy(previous)
    assert all(o.dtype == tf.float32 for o in outputs)


@pytest.mark.parametrize(
    "arguments,message",
    [
        (dict(input_shape=(100, 64, 3)), "divisible by 2 \\*\\* \\(depth \\+ 2\\)"),
        (dict(input_shape=(64, 64, 3), depth=5), "at least 2 \\*\\* \\(depth \\+ 2\\)"),
        (dict(n_joints=0), "n_joints must be a positive integer"),
        (dict(n_joints=2.5), "n_joints must be a positive integer"),
        (dict(depth=0), "depth must be a positive integer"),
        (dict(n_stacks=0), "n_stacks must be a positive integer"),
        (dict(n_features=15), "n_features must be even"),
        (dict(input_shape=(64, 64)), "input_shape must be"),
    ],
)
def test_invalid_arguments_raise_a_clear_value_error(arguments, message):
    kwargs = dict(TINY, **arguments)
    with pytest.raises(ValueError, match=message):
        build_stacked_hourglass(**kwargs)


def test_library_never_imports_the_programs():
    for path in (PROJECT_ROOT / "keras_hourglass").rglob("*.py"):
        text = path.read_text()
        for program in ("training", "evaluation"):
            assert f"import {program}" not in text, path
            assert f"from {program}" not in text, path


JAX_SCRIPT = """
import numpy as np
from keras_hourglass import build_stacked_hourglass
model = build_stacked_hourglass(
    n_stacks=2, n_features=16, depth=1, input_shape=(64, 64, 3)
)
outputs = model(np.zeros((1, 64, 64, 3), "float32"))
print(len(outputs), tuple(outputs[-1].shape), type(outputs[-1]).__module__)
"""


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax not installed")
def test_builder_runs_on_the_jax_backend():
    environment = dict(os.environ, KERAS_BACKEND="jax", PYTHONPATH=str(PROJECT_ROOT))
    result = subprocess.run(
        [sys.executable, "-c", JAX_SCRIPT],
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "2 (1, 16, 16, 16) jax" in result.stdout
