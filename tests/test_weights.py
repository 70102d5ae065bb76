"""Tests for keras_hourglass.weights and training.convert_weights against a
PyTorch fixture (tests/fixtures/make_torch_port_fixture.py; no PyTorch here)."""

import json
import sys

import numpy as np
import pytest
import tensorflow as tf

from keras_hourglass import build_stacked_hourglass
from keras_hourglass.weights import CheckpointMismatchError
from keras_hourglass.weights import DamagedCheckpointError
from keras_hourglass.weights import build_model_from_state_dict
from keras_hourglass.weights import load_port_state_dict
from keras_hourglass.weights import strip_wrapper_prefixes
from tests.conftest import PROJECT_ROOT

FIXTURES = PROJECT_ROOT / "tests" / "fixtures"
STATE_DICT_FILE = FIXTURES / "torch_port_state_dict.npz"
HEATMAPS_FILE = FIXTURES / "torch_port_heatmaps.npz"
FIXTURE_SHAPE = (64, 64, 3)
FIXTURE_ARCHITECTURE = dict(n_features=32, input_shape=FIXTURE_SHAPE)


def read_npz(path):
    with np.load(path) as arrays:
        return {name: arrays[name] for name in arrays.files}


@pytest.fixture(scope="module")
def state_dict():
    return read_npz(STATE_DICT_FILE)


@pytest.fixture(scope="module")
def torch_outputs():
    return read_npz(HEATMAPS_FILE)


@pytest.fixture(scope="module")
def converted(state_dict):
    return build_model_from_state_dict(state_dict, input_shape=FIXTURE_SHAPE)


def relative_difference(ours, theirs):
    return np.abs(ours - theirs).max() / np.abs(theirs).max()


def assert_matches_torch(stack_outputs, torch_heatmaps):
    """Ours [N, H, W, K] per stack vs the port's [N, stacks, K, H, W]."""
    assert len(stack_outputs) == torch_heatmaps.shape[1]
    for stack, ours in enumerate(stack_outputs):
        ours = np.transpose(np.asarray(ours), (0, 3, 1, 2))
        theirs = torch_heatmaps[:, stack]
        assert ours.shape == theirs.shape
        assert relative_difference(ours, theirs) < 1e-4, f"stack {stack + 1}"


def test_every_stack_gives_the_pytorch_heatmaps(converted, torch_outputs):
    model, _ = converted
    images = torch_outputs["images"].astype(np.float32) / 255.0
    assert_matches_torch(model(images, training=False), torch_outputs["heatmaps"])


def test_every_tensor_is_used_or_ignored_by_name(converted, state_dict):
    _, report = converted
    names = set(strip_wrapper_prefixes(state_dict))
    assert set(report.used) | set(report.ignored) == names
    assert not set(report.used) & set(report.ignored)
    assert len(report.used) == len(set(report.used))
    # Residuals that change channels use their skip convolution; the others'
    # are the port's unused leftovers.
    assert "pre.1.skip_layer.conv.weight" in report.used  # 64 -> 128
    assert "pre.4.skip_layer.conv.weight" in report.used  # 128 -> 32
    assert "pre.3.skip_layer.conv.weight" in report.ignored  # 128 -> 128
    assert "hgs.1.0.low2.low2.low2.low2.skip_layer.conv.bias" in report.ignored
    for name in report.ignored:
        assert ".skip_layer.conv." in name or name.endswith(".num_batches_tracked")


def test_every_keras_weight_is_assigned_and_counts_match(state_dict):
    model = build_stacked_hourglass(n_stacks=2, **FIXTURE_ARCHITECTURE)
    for variable in model.weights:
        variable.assign(np.full(variable.shape, np.nan, variable.dtype))
    report = load_port_state_dict(model, state_dict)
    assert not any(np.isnan(np.asarray(w)).any() for w in model.weights)
    stripped = strip_wrapper_prefixes(state_dict)
    used_values = sum(stripped[name].size for name in report.used)
    assert used_values == model.count_params()
    assert report.assigned_layers == sum(1 for layer in model.layers if layer.weights)


def test_wrapper_prefixes_are_optional(state_dict):
    bare = strip_wrapper_prefixes(state_dict)
    assert "pre.0.conv.weight" in bare
    model = build_stacked_hourglass(n_stacks=2, **FIXTURE_ARCHITECTURE)
    report = load_port_state_dict(model, {f"module.{k}": v for k, v in bare.items()})
    assert "pre.0.conv.weight" in report.used


@pytest.mark.parametrize(
    "model_arguments,message",
    [
        (dict(n_stacks=3), "checkpoint has 2 stacks but the model has 3"),
        (dict(n_stacks=2, n_joints=14), "checkpoint has 16 joints"),
        (dict(n_stacks=2, n_features=16), "checkpoint has 32 features"),
    ],
)
def test_another_architecture_is_refused_by_name(state_dict, model_arguments, message):
    arguments = {**FIXTURE_ARCHITECTURE, **model_arguments}
    model = build_stacked_hourglass(**arguments)
    with pytest.raises(CheckpointMismatchError, match=message):
        load_port_state_dict(model, state_dict)


def test_missing_tensor_is_named(state_dict):
    name = "hgs.1.0.low2.low2.low3.bn2.running_var"
    broken = {k: v for k, v in state_dict.items() if k != f"model.module.{name}"}
    model = build_stacked_hourglass(n_stacks=2, **FIXTURE_ARCHITECTURE)
    before = [np.asarray(w).copy() for w in model.weights]
    with pytest.raises(CheckpointMismatchError, match=f"missing tensor '{name}'"):
        load_port_state_dict(model, broken)
    # Nothing is assigned when a check fails.
    assert all(np.array_equal(a, np.asarray(b)) for a, b in zip(before, model.weights))


def test_unknown_extra_tensor_is_named(state_dict):
    extra = {**state_dict, "model.module.outs.0.attention.weight": np.ones(3)}
    model = build_stacked_hourglass(n_stacks=2, **FIXTURE_ARCHITECTURE)
    with pytest.raises(CheckpointMismatchError, match="'outs.0.attention.weight'"):
        load_port_state_dict(model, extra)


def test_a_skip_layer_the_port_never_has_is_not_ignored(state_dict):
    extra = {**state_dict, "model.module.outs.0.skip_layer.conv.weight": np.ones(3)}
    with pytest.raises(CheckpointMismatchError, match="unknown extra tensor"):
        build_model_from_state_dict(extra, input_shape=FIXTURE_SHAPE)


def test_a_state_dict_of_another_network_is_refused():
    resnet_like = {"conv1.weight": np.zeros((64, 3, 7, 7)), "fc.bias": np.zeros(10)}
    with pytest.raises(CheckpointMismatchError, match="no hgs"):
        build_model_from_state_dict(resnet_like)


def test_uint8_images_through_the_serving_crop_give_the_pytorch_heatmaps(
    converted, torch_outputs
):
    """Our serving path (encoded image -> decode -> crop -> /255) feeds the
    network what the port feeds it (RGB image / 255, channels last)."""
    from keras_hourglass.serving.inputs import crop_encoded_images
    from keras_hourglass.transforms import CROP_CENTER_SHIFT_Y
    from keras_hourglass.transforms import CROP_SCALE_FACTOR
    from keras_hourglass.transforms import box_from_person

    model, _ = converted
    images = torch_outputs["images"]
    side = images.shape[1]
    # The person whose training crop is exactly the whole image.
    scale = side / 200.0 / CROP_SCALE_FACTOR
    center = ((side - 1) / 2.0, (side - 1) / 2.0 - CROP_CENTER_SHIFT_Y * scale)
    box = box_from_person(center, scale)
    encoded = [tf.io.encode_png(image).numpy() for image in images]
    crops, _ = crop_encoded_images(encoded, np.stack([box] * len(images)), side)
    # Same values, channel order and layout as the port's input, up to one
    # uint8 level: the crop's bilinear warp runs on uint8 and truncates, and
    # float32 box arithmetic puts the samples a few 1e-6 px off the pixels.
    difference = crops.numpy() - images / 255.0
    assert difference.max() < 1e-6
    assert difference.min() > -(1.0 + 1e-4) / 255.0
    outputs = model(crops, training=False)
    for stack, ours in enumerate(outputs):
        ours = np.transpose(np.asarray(ours), (0, 3, 1, 2))
        theirs = torch_outputs["heatmaps"][:, stack]
        assert relative_difference(ours, theirs) < 1e-2, f"stack {stack + 1}"


def test_convert_program_writes_a_model_the_loaders_take(tmp_path, torch_outputs):
    from evaluation.run_directory import make_predictor
    from keras_hourglass.saving import load_model
    from training.convert_weights import main

    out = tmp_path / "hourglass2_fixture.keras"
    arguments = ["--checkpoint", str(STATE_DICT_FILE), "--out", str(out)]
    assert main(arguments + ["--input-size", "64"]) == 0
    images = torch_outputs["images"].astype(np.float32) / 255.0
    reloaded = load_model(out).keras_model
    assert_matches_torch(reloaded(images, training=False), torch_outputs["heatmaps"])
    sidecar = json.loads(out.with_suffix(".json").read_text())
    predictor = make_predictor(out)
    assert list(predictor.joint_set.joint_names) == sidecar["joint_names"]
    assert sidecar["joint_names"][:2] == ["r_ankle", "r_knee"]
    assert sidecar["input_size"] == 64
    assert "pre.3.skip_layer.conv.weight" in sidecar["ignored_tensors"]


def test_convert_program_says_how_to_get_pytorch_when_it_is_missing(
    tmp_path, monkeypatch, capsys
):
    from training.convert_weights import main

    checkpoint = tmp_path / "checkpoint.pth.tar"
    checkpoint.write_bytes(b"not read")
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` fails
    code = main(["--checkpoint", str(checkpoint), "--out", str(tmp_path / "out.keras")])
    stderr = capsys.readouterr().err
    assert code == 1
    assert "needs PyTorch, which is not installed" in stderr
    assert "keras-hourglass" not in stderr or "[torch]" in stderr
    assert not (tmp_path / "out.keras").exists()


CONV_KERNEL = "model.module.pre.0.conv.weight"
RUNNING_VAR = "model.module.pre.0.bn.running_var"


def damaged_copy(state_dict, name, change):
    """A copy of the fixture state dict with tensor `name` replaced by
    `change(original array)`."""
    damaged = dict(state_dict)
    damaged[name] = change(np.array(state_dict[name]))
    return damaged


def with_first_value(value):
    def change(array):
        array = array.astype(np.float64)
        array.reshape(-1)[0] = value
        return array

    return change


DAMAGES = {
    "nan kernel": (CONV_KERNEL, with_first_value(np.nan), "NaN or infinite"),
    "infinite kernel": (CONV_KERNEL, with_first_value(np.inf), "NaN or infinite"),
    "float32 overflow": (CONV_KERNEL, with_first_value(1e300), "float32"),
    "negative variance": (RUNNING_VAR, with_first_value(-1.0), "negative"),
    "complex kernel": (CONV_KERNEL, lambda a: a.astype(np.complex64), "complex"),
    "string kernel": (CONV_KERNEL, lambda a: a.astype(str), "not real numbers"),
    "object kernel": (CONV_KERNEL, lambda a: a.astype(object), "not real numbers"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_a_damaged_checkpoint_is_refused_naming_the_tensor(state_dict, damage):
    name, change, reason = DAMAGES[damage]
    model = build_stacked_hourglass(n_stacks=2, n_joints=16, **FIXTURE_ARCHITECTURE)
    before = [np.array(w) for w in model.get_weights()]
    with pytest.raises(DamagedCheckpointError, match=reason) as raised:
        load_port_state_dict(model, damaged_copy(state_dict, name, change))
    assert name.removeprefix("model.module.") in str(raised.value)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


@pytest.mark.parametrize(
    "damage", ["nan kernel", "negative variance", "complex kernel", "string kernel"]
)
def test_convert_program_refuses_a_damaged_npz_and_writes_nothing(
    tmp_path, state_dict, damage, capsys
):
    from training.convert_weights import main

    name, change, reason = DAMAGES[damage]
    checkpoint = tmp_path / "damaged.npz"
    np.savez(checkpoint, **damaged_copy(state_dict, name, change))
    out = tmp_path / "out" / "model.keras"
    arguments = ["--checkpoint", str(checkpoint), "--out", str(out)]
    assert main(arguments + ["--input-size", "64"]) == 2
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and reason in error and "pre.0." in error
    assert not (tmp_path / "out").exists()
