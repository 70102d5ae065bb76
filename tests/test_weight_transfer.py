"""Tests for the fine-tuning weight transfer of keras_hourglass.weights: a
converted PyTorch-port checkpoint (tests/fixtures) to models of other joint
sets."""

import numpy as np
import pytest

from keras_hourglass import build_stacked_hourglass
from keras_hourglass.model import joint_head_layer_names
from keras_hourglass.weights import ArchitectureMismatchError
from keras_hourglass.weights import build_model_from_state_dict
from keras_hourglass.weights import layer_weight_shapes
from keras_hourglass.weights import transfer_matching_weights
from keras_hourglass.weights import weight_transfer_plan
from tests.test_weights import FIXTURE_SHAPE
from tests.test_weights import STATE_DICT_FILE
from tests.test_weights import read_npz

PORT_ARCHITECTURE = dict(n_stacks=2, n_features=32, depth=4, input_shape=FIXTURE_SHAPE)


@pytest.fixture(scope="module")
def port_model():
    model, _ = build_model_from_state_dict(
        read_npz(STATE_DICT_FILE), input_shape=FIXTURE_SHAPE
    )
    return model


def test_plan_copies_equal_shapes_and_creates_only_joint_heads():
    source = {
        "stem_conv": ((7, 7, 3, 64), (64,)),
        "stack1_heatmap_conv": ((1, 1, 32, 16), (16,)),
        "stack1_remap_heatmaps": ((1, 1, 16, 32), (32,)),
    }
    target = {
        "stem_conv": ((7, 7, 3, 64), (64,)),
        "stack1_heatmap_conv": ((1, 1, 32, 5), (5,)),
        "stack1_remap_heatmaps": ((1, 1, 5, 32), (32,)),
    }
    heads = ("stack1_heatmap_conv", "stack1_remap_heatmaps")
    copied, created = weight_transfer_plan(source, target, heads)
    assert copied == ("stem_conv",)
    assert created == heads
    assert weight_transfer_plan(source, source, heads) == (tuple(source), ())


def test_plan_refuses_a_backbone_layer_that_does_not_fit():
    source = {"stem_conv": ((7, 7, 3, 64), (64,))}
    with pytest.raises(ArchitectureMismatchError, match="stem_conv"):
        weight_transfer_plan(source, {"stem_conv": ((7, 7, 3, 32), (32,))}, ())
    with pytest.raises(ArchitectureMismatchError, match="stack1_linear"):
        weight_transfer_plan(source, {"stack1_linear": ((1, 1, 8, 8), (8,))}, ())


@pytest.mark.parametrize("n_joints", [14, 5])
def test_port_weights_move_to_a_model_of_another_joint_count(port_model, n_joints):
    target = build_stacked_hourglass(n_joints=n_joints, **PORT_ARCHITECTURE)
    before = {name: target.get_layer(name).get_weights() for name in
              joint_head_layer_names(2)}  # fmt: skip
    report = transfer_matching_weights(port_model, target)
    assert set(report.created) == set(joint_head_layer_names(2)) == {
        "stack1_heatmap_conv", "stack2_heatmap_conv", "stack1_remap_heatmaps",
    }  # fmt: skip
    assert (report.source_joints, report.target_joints) == (16, n_joints)
    with_weights = {layer.name for layer in target.layers if layer.weights}
    assert set(report.copied) == with_weights - set(report.created)
    for name in report.copied:
        for ours, theirs in zip(
            target.get_layer(name).get_weights(),
            port_model.get_layer(name).get_weights(),
        ):
            np.testing.assert_array_equal(ours, theirs, err_msg=name)
    # The heads are the target's own fresh ones, shaped for its joints.
    for name, weights in before.items():
        for kept, now in zip(weights, target.get_layer(name).get_weights()):
            np.testing.assert_array_equal(kept, now)
    head = target.get_layer("stack2_heatmap_conv")
    remap = target.get_layer("stack1_remap_heatmaps")
    assert head.kernel.shape == (1, 1, 32, n_joints)
    assert remap.kernel.shape == (1, 1, n_joints, 32)
    assert report.copied_parameters + report.created_parameters == target.count_params()


def test_the_same_joint_count_copies_every_weight(port_model):
    target = build_stacked_hourglass(n_joints=16, **PORT_ARCHITECTURE)
    report = transfer_matching_weights(port_model, target)
    assert report.created == ()
    for ours, theirs in zip(target.get_weights(), port_model.get_weights()):
        np.testing.assert_array_equal(ours, theirs)


def test_any_input_size_takes_the_weights(port_model):
    """Convolution weights do not depend on the crop size."""
    target = build_stacked_hourglass(
        n_joints=5, **{**PORT_ARCHITECTURE, "input_shape": (128, 128, 3)}
    )
    assert transfer_matching_weights(port_model, target).created


@pytest.mark.parametrize(
    "change, named",
    [({"n_stacks": 1}, "stacks"), ({"n_features": 16}, "features"),
     ({"depth": 3}, "depth"), ({"n_modules": 2}, "modules")],
)  # fmt: skip
def test_another_architecture_is_refused_naming_the_setting(port_model, change, named):
    target = build_stacked_hourglass(n_joints=5, **{**PORT_ARCHITECTURE, **change})
    weights_before = target.get_weights()
    with pytest.raises(ArchitectureMismatchError, match=named):
        transfer_matching_weights(port_model, target)
    for kept, now in zip(weights_before, target.get_weights()):
        np.testing.assert_array_equal(kept, now)


def test_a_model_that_is_not_an_hourglass_is_refused():
    import keras

    inputs = keras.Input((64, 64, 3))
    other = keras.Model(inputs, keras.layers.Conv2D(5, 1)(inputs))
    target = build_stacked_hourglass(n_joints=5, **PORT_ARCHITECTURE)
    with pytest.raises(ArchitectureMismatchError, match="not a stacked hourglass"):
        transfer_matching_weights(other, target)


def test_layer_weight_shapes_lists_layers_with_weights(port_model):
    shapes = layer_weight_shapes(port_model)
    assert shapes["stem_conv"] == ((7, 7, 3, 64), (64,))
    assert "stem_pad" not in shapes
