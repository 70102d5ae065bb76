"""Tests for keras_hourglass.serving.fold: batch norms folded into convolutions."""

import keras
import numpy as np
import tensorflow as tf

from keras_hourglass.joint_sets import JointSet
from keras_hourglass.model import build_stacked_hourglass
from keras_hourglass.serving.export import export_saved_model
from keras_hourglass.serving.fold import fold_batch_norms
from keras_hourglass.serving.fold import foldable_batch_norms


def tiny_model_with_trained_statistics(n_stacks=2):
    """A 64 px model whose batch norms hold random, non-trivial statistics
    (a fresh model's are the identity, which any fold reproduces)."""
    keras.utils.set_random_seed(0)
    model = build_stacked_hourglass(
        n_stacks=n_stacks, n_joints=5, n_features=16, depth=2, input_shape=(64, 64, 3)
    )
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            channels = layer.gamma.shape[0]
            layer.gamma.assign(rng.uniform(0.5, 2.0, channels))
            layer.beta.assign(rng.normal(0.0, 0.5, channels))
            layer.moving_mean.assign(rng.normal(0.0, 0.5, channels))
            layer.moving_variance.assign(rng.uniform(0.2, 3.0, channels))
    return model


def test_only_batch_norms_after_a_convolution_are_foldable():
    model = tiny_model_with_trained_statistics()
    pairs = foldable_batch_norms(model)
    # The stem's, each residual module's 2nd and 3rd, each stack's `linear`.
    assert pairs["stem_bn"] == "stem_conv"
    assert pairs["stem_res1_pre2_bn"] == "stem_res1_conv1"
    assert pairs["stem_res1_pre3_bn"] == "stem_res1_conv2"
    assert pairs["stack2_linear_bn"] == "stack2_linear"
    # A module's first batch norm reads its input, which the skip also reads.
    assert not any(name.endswith("_pre1_bn") for name in pairs)
    norms = [
        layer.name
        for layer in model.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    modules = sum(name.endswith("_pre1_bn") for name in norms)
    assert len(pairs) == 1 + 2 * modules + 2
    assert len(norms) == len(pairs) + modules


def test_folded_heatmaps_equal_the_model_within_1e4_of_their_scale():
    model = tiny_model_with_trained_statistics()
    folded = fold_batch_norms(model)
    images = np.random.default_rng(1).uniform(size=(2, 64, 64, 3)).astype("float32")
    expected = model(images, training=False)
    outputs = folded(images, training=False)
    assert folded.output_names == model.output_names
    for want, got in zip(expected, outputs):
        want, got = np.asarray(want), np.asarray(got)
        assert np.abs(want).max() > 0.1
        assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max()
    remaining = [
        layer
        for layer in folded.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    assert len(remaining) == len(
        [
            name
            for name in (layer.name for layer in model.layers)
            if name.endswith("_pre1_bn")
        ]
    )


def test_folding_leaves_the_model_unchanged():
    model = tiny_model_with_trained_statistics(n_stacks=1)
    before = [weight.numpy().copy() for weight in model.weights]
    fold_batch_norms(model)
    after = [weight.numpy() for weight in model.weights]
    assert len(before) == len(after)
    for old, new in zip(before, after):
        np.testing.assert_array_equal(old, new)


def test_export_serves_the_folded_graph_with_the_models_heatmaps(tmp_path):
    model = tiny_model_with_trained_statistics()
    version_dir = export_saved_model(
        model, tmp_path / "hg", joint_set=_five_joint_set(), warmup=False
    )
    loaded = tf.saved_model.load(str(version_dir))
    images = np.random.default_rng(2).uniform(size=(2, 64, 64, 3)).astype("float32")
    served = loaded.signatures["heatmaps"](images=tf.constant(images))
    expected = np.asarray(model(images, training=False)[-1])
    error = np.abs(served["heatmaps"].numpy() - expected).max()
    assert error <= 1e-4 * np.abs(expected).max()
    # No batch norm that follows a convolution is left in the served graph.
    graph = loaded.signatures["heatmaps"].graph.as_graph_def()
    names = [node.name for node in graph.node]
    names += [node.name for f in graph.library.function for node in f.node_def]
    assert not any("stem_bn" in name or "pre2_bn" in name for name in names)
    assert any("pre1_bn" in name for name in names)


def _five_joint_set():
    return JointSet(
        name="five",
        joint_names=tuple(f"joint{index}" for index in range(5)),
        flip_pairs=((0, 1),),
        skeleton=((0, 1),),
    )
