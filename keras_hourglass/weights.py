"""Published PyTorch checkpoints -> Keras weights, with no PyTorch import.

The authors' PyTorch port, princeton-vl/pytorch_stacked_hourglass, builds the
same network as `build_stacked_hourglass` (MPII checkpoints for 2 and 8
stacks) and names its modules by structure (`pre.0`, `hgs.{i}.0`,
`features.{i}`, `outs.{i}`, `merge_*.{i}`: `port_weight_map`). It feeds float
RGB crops in [0, 1] as our models do, but crops its own window
(`transforms.PYTORCH_PORT`, recorded in the model's sidecar by
`training.convert_weights`). `transfer_matching_weights` starts fine-tuning
on another joint set from such a model, or any trained one.
"""

import re
from dataclasses import dataclass

import numpy as np

from keras_hourglass.model import build_stacked_hourglass
from keras_hourglass.model import builder_arguments_of
from keras_hourglass.model import heatmap_head_name
from keras_hourglass.model import joint_count
from keras_hourglass.model import joint_head_layer_names
from keras_hourglass.model import prediction_remap_name
from keras_hourglass.model import stack_name

# Added in front of every name by the port's `Trainer` (`model.`) and by
# `torch.nn.DataParallel` (`module.`).
WRAPPER_PREFIXES = ("model.", "module.")
PORT_HOURGLASS_DEPTH = 4
BATCH_NORM_COUNTER = "num_batches_tracked"
_STACK_INDEX = re.compile(r"^hgs\.(\d+)\.")


class CheckpointMismatchError(ValueError):
    """The checkpoint does not fit the model; the message names the tensor."""


class DamagedCheckpointError(ValueError):
    """A checkpoint tensor holds values no trained network has."""


# The largest finite float32: Keras weights are float32, so a larger float64
# value would be stored as infinity.
FLOAT32_MAX = float(np.finfo(np.float32).max)


def damaged_tensor_problem(name, array):
    """Why a checkpoint tensor cannot be trained weights (not real, not finite
    in float32, a negative batch-norm variance), or None."""
    array = np.asarray(array)
    if array.dtype.kind == "c":
        return "holds complex numbers"
    if array.dtype.kind not in "fiub":
        return f"holds {array.dtype} values, not real numbers"
    if array.dtype.kind != "f" or array.size == 0:
        return None
    if not np.all(np.isfinite(array)):
        return "holds NaN or infinite values"
    if array.dtype.itemsize > 4 and np.abs(array).max() > FLOAT32_MAX:
        return "holds values too large for float32"
    if name.endswith(".running_var") and array.min() < 0:
        return "is a batch-norm running variance with negative values"
    return None


@dataclass(frozen=True)
class LoadReport:
    """What `load_port_state_dict` did: the checkpoint names it copied, those
    it left out (`ignored`) and the number of Keras layers it set."""

    used: tuple
    ignored: tuple
    assigned_layers: int


def strip_wrapper_prefixes(state_dict):
    """The state dict without leading `model.`/`module.`: the port saves
    `Trainer(DataParallel(PoseNet))` (`model.module.pre.0.conv.weight`)."""
    stripped = {}
    for name, array in state_dict.items():
        short = name
        while short.startswith(WRAPPER_PREFIXES):
            short = short.split(".", 1)[1]
        if short in stripped:
            raise CheckpointMismatchError(
                f"checkpoint tensors {name!r} and another both become {short!r} "
                "once the model./module. prefixes are removed"
            )
        stripped[short] = np.asarray(array)
    return stripped


def infer_port_architecture(state_dict):
    """The `n_stacks`, `n_features` and `n_joints` of a stripped state dict."""
    stacks = {int(m[1]) for name in state_dict if (m := _STACK_INDEX.match(name))}
    if not stacks:
        raise CheckpointMismatchError(
            "checkpoint has no hgs.<i>.* tensors: not a stacked hourglass "
            f"PoseNet state dict (first names: {sorted(state_dict)[:3]})"
        )
    if stacks != set(range(len(stacks))):
        raise CheckpointMismatchError(
            f"checkpoint hourglass indices {sorted(stacks)} are not "
            f"0..{len(stacks) - 1}"
        )
    heatmap_kernel = state_dict.get("outs.0.conv.weight")
    if heatmap_kernel is None or heatmap_kernel.ndim != 4:
        raise CheckpointMismatchError(
            "checkpoint tensor 'outs.0.conv.weight' (stack 1 heatmaps) is "
            f"{'missing' if heatmap_kernel is None else heatmap_kernel.shape}, "
            "expected a 4-D convolution kernel"
        )
    n_joints, n_features = heatmap_kernel.shape[:2]
    return {
        "n_stacks": len(stacks),
        "n_features": int(n_features),
        "n_joints": int(n_joints),
    }


def port_weight_map(n_stacks, n_features, depth=PORT_HOURGLASS_DEPTH):
    """Returns `(pairs, ignorable)`: (Keras layer name, port tensor names in
    the layer's weight order) for every layer with weights, and the skip
    convolutions the port creates in every residual but uses only when the
    channel count changes."""
    pairs, ignored = [], []

    def conv(keras_name, port_prefix):
        pairs.append((keras_name, (f"{port_prefix}.weight", f"{port_prefix}.bias")))

    def batch_norm(keras_name, port_prefix):
        names = ("weight", "bias", "running_mean", "running_var")
        pairs.append((keras_name, tuple(f"{port_prefix}.{name}" for name in names)))

    def residual(keras_name, port_prefix, changes_channels=False):
        for step in (1, 2, 3):
            batch_norm(f"{keras_name}_pre{step}_bn", f"{port_prefix}.bn{step}")
            conv(f"{keras_name}_conv{step}", f"{port_prefix}.conv{step}.conv")
        skip = f"{port_prefix}.skip_layer.conv"
        if changes_channels:
            conv(f"{keras_name}_skip", skip)
        else:
            ignored.extend([f"{skip}.weight", f"{skip}.bias"])

    def hourglass(keras_name, port_prefix, depth):
        residual(f"{keras_name}_up_res1", f"{port_prefix}.up1")
        residual(f"{keras_name}_low1_res1", f"{port_prefix}.low1")
        residual(f"{keras_name}_low3_res1", f"{port_prefix}.low3")
        if depth == 1:
            residual(f"{keras_name}_low2_res1", f"{port_prefix}.low2")
        else:
            hourglass(f"{keras_name}_inner", f"{port_prefix}.low2", depth - 1)

    conv("stem_conv", "pre.0.conv")
    batch_norm("stem_bn", "pre.0.bn")
    residual("stem_res1", "pre.1", changes_channels=True)
    residual("stem_res2", "pre.3")
    residual("stem_res3", "pre.4", changes_channels=n_features != 128)
    for index in range(n_stacks):
        stack = stack_name(index + 1)
        hourglass(f"{stack}_hg", f"hgs.{index}.0", depth)
        residual(f"{stack}_out_res1", f"features.{index}.0")
        conv(f"{stack}_linear", f"features.{index}.1.conv")
        batch_norm(f"{stack}_linear_bn", f"features.{index}.1.bn")
        conv(heatmap_head_name(index + 1), f"outs.{index}.conv")
        if index < n_stacks - 1:
            conv(f"{stack}_remap_features", f"merge_features.{index}.conv.conv")
            conv(prediction_remap_name(index + 1), f"merge_preds.{index}.conv.conv")
    return pairs, tuple(ignored)


def port_builder_arguments(model, checkpoint):
    """The `builder_arguments_of` `model`, checked to be the network the port
    builds for `checkpoint` (`infer_port_architecture`)."""
    arguments = builder_arguments_of(model)
    if None in (arguments["n_stacks"], arguments["n_features"], arguments["depth"]):
        raise CheckpointMismatchError(
            f"model {model.name!r} was not built by build_stacked_hourglass"
        )
    if arguments["n_modules"] > 1:
        raise CheckpointMismatchError(
            "the port has one residual module per hourglass step; the model "
            "was built with n_modules > 1"
        )
    for field, what in (
        ("n_stacks", "stacks"),
        ("n_joints", "joints (heatmaps per stack)"),
        ("n_features", "features"),
    ):
        have, want = checkpoint[field], arguments[field]
        if have != want:
            raise CheckpointMismatchError(
                f"checkpoint has {have} {what} but the model has {want}; build "
                f"the model with {field}={have} (or use build_model_from_state_dict)"
            )
    return arguments


def _checked_weights(layer, port_names, state_dict):
    variables = layer.weights
    if len(variables) != len(port_names):
        raise CheckpointMismatchError(
            f"Keras layer {layer.name!r} has {len(variables)} weights, the port's "
            f"{port_names[0].rsplit('.', 1)[0]!r} has {len(port_names)}"
        )
    arrays = []
    for variable, port_name in zip(variables, port_names):
        if port_name not in state_dict:
            raise CheckpointMismatchError(
                f"checkpoint is missing tensor {port_name!r} (for Keras layer "
                f"{layer.name!r})"
            )
        array = np.asarray(state_dict[port_name], np.float32)
        if port_name.endswith(".conv.weight"):  # PyTorch OIHW -> Keras HWIO
            array = np.transpose(array, (2, 3, 1, 0))
        if tuple(array.shape) != tuple(variable.shape):
            raise CheckpointMismatchError(
                f"checkpoint tensor {port_name!r} has shape "
                f"{tuple(state_dict[port_name].shape)}, which does not fit Keras "
                f"weight {variable.path} of shape {tuple(variable.shape)}"
            )
        arrays.append(array)
    return arrays


def load_port_state_dict(model, state_dict):
    """Copies a pytorch_stacked_hourglass state dict into `model`.

    Args:
        model: a `keras.Model` from `build_stacked_hourglass` (one module per
            step, any input size).
        state_dict: {tensor name: NumPy array}, the port's
            `checkpoint['state_dict']`.

    Returns:
        A `LoadReport`: every Keras weight is set exactly once, every tensor
        used or ignored (unused skip convolutions, batch-norm counters).

    Raises:
        CheckpointMismatchError, DamagedCheckpointError: naming the first
            tensor or setting at fault; the model is then left untouched.
    """
    state_dict = strip_wrapper_prefixes(state_dict)
    for name in sorted(state_dict):
        problem = damaged_tensor_problem(name, state_dict[name])
        if problem:
            raise DamagedCheckpointError(f"checkpoint tensor {name!r} {problem}")
    arguments = port_builder_arguments(model, infer_port_architecture(state_dict))
    pairs, ignorable = port_weight_map(
        arguments["n_stacks"], arguments["n_features"], arguments["depth"]
    )
    mapped_layers = {keras_name for keras_name, _ in pairs}
    with_weights = [layer.name for layer in model.layers if layer.weights]
    unmapped = [name for name in with_weights if name not in mapped_layers]
    if unmapped or len(mapped_layers) != len(pairs):
        raise CheckpointMismatchError(
            f"no single checkpoint source for Keras layer(s) {unmapped[:3]}"
        )
    updates = []
    for keras_name, port_names in pairs:
        layer = model.get_layer(keras_name)
        updates.append((layer, _checked_weights(layer, port_names, state_dict)))
    used = {name for _, port_names in pairs for name in port_names}
    ignored = []
    for name in sorted(state_dict):
        if name in used:
            continue
        if name in ignorable or name.endswith(f".{BATCH_NORM_COUNTER}"):
            ignored.append(name)
            continue
        raise CheckpointMismatchError(
            f"checkpoint has an unknown extra tensor {name!r} of shape "
            f"{tuple(state_dict[name].shape)} that the Keras model has no place for"
        )
    # Assign only after every check passed, so a failed load leaves the
    # model untouched.
    for layer, arrays in updates:
        layer.set_weights(arrays)
    return LoadReport(
        used=tuple(name for _, names in pairs for name in names),
        ignored=tuple(ignored),
        assigned_layers=len(updates),
    )


def build_model_from_state_dict(state_dict, input_shape=(256, 256, 3), **kwargs):
    """Builds and loads the model a port state dict describes; returns
    `(model, report)`. `kwargs` go to `build_stacked_hourglass`."""
    model = build_stacked_hourglass(
        **infer_port_architecture(strip_wrapper_prefixes(state_dict)),
        n_modules=1,
        depth=PORT_HOURGLASS_DEPTH,
        input_shape=tuple(input_shape),
        **kwargs,
    )
    return model, load_port_state_dict(model, state_dict)


class ArchitectureMismatchError(ValueError):
    """Two models whose backbones differ; `setting` names the differing
    builder argument (or None) and `source_value` the source's value."""

    def __init__(self, message, setting=None, source_value=None):
        super().__init__(message)
        self.setting = setting
        self.source_value = source_value


# The builder arguments that shape the backbone; the joint count and the
# input size do not (convolution weights fit any crop size).
BACKBONE_ARGUMENTS = (
    ("n_stacks", "stacks"),
    ("n_features", "features"),
    ("depth", "depth"),
    ("n_modules", "modules per step"),
)


@dataclass(frozen=True)
class TransferReport:
    """What `transfer_matching_weights` did: the layers copied from the
    source, the joint heads `created` anew, and the weights in each."""

    copied: tuple
    created: tuple
    source_joints: int
    target_joints: int
    copied_parameters: int
    created_parameters: int


def layer_weight_shapes(model):
    """{layer name: tuple of weight shapes} for every layer with weights."""
    return {
        layer.name: tuple(tuple(weight.shape) for weight in layer.weights)
        for layer in model.layers
        if layer.weights
    }


def weight_transfer_plan(source_shapes, target_shapes, head_layers):
    """Returns `(copied, created)` target layer names: a layer whose name and
    weight shapes match the source's is copied, a joint head (`head_layers`)
    that does not is created anew; any other mismatch means the backbones
    differ (`ArchitectureMismatchError`)."""
    copied, created = [], []
    for name, shapes in target_shapes.items():
        if source_shapes.get(name) == shapes:
            copied.append(name)
        elif name in head_layers:
            created.append(name)
        elif name in source_shapes:
            raise ArchitectureMismatchError(
                f"layer {name!r} has weights of shapes {list(source_shapes[name])} "
                f"in the source and {list(shapes)} in the target"
            )
        else:
            raise ArchitectureMismatchError(f"the source has no layer {name!r}")
    return tuple(copied), tuple(created)


def transfer_matching_weights(source, target):
    """Copies `source`'s weights into `target` wherever they fit; returns a
    `TransferReport`.

    Both are `build_stacked_hourglass` models with the same backbone; the
    joint count and input size may differ, and then the joint heads keep
    `target`'s fresh weights. `ArchitectureMismatchError` (target untouched)
    when the backbones differ.
    """
    source_arguments = builder_arguments_of(source)
    target_arguments = builder_arguments_of(target)
    if any(source_arguments.get(name) is None for name, _ in BACKBONE_ARGUMENTS):
        raise ArchitectureMismatchError(
            "the source is not a stacked hourglass built by build_stacked_hourglass"
        )
    for name, what in BACKBONE_ARGUMENTS:
        have, want = source_arguments[name], target_arguments[name]
        if have != want:
            raise ArchitectureMismatchError(
                f"the source has {have} {what} and the target {want} "
                f"({name}={have} would match)",
                setting=name,
                source_value=have,
            )
    target_shapes = layer_weight_shapes(target)
    copied, created = weight_transfer_plan(
        layer_weight_shapes(source),
        target_shapes,
        joint_head_layer_names(target_arguments["n_stacks"]),
    )
    for name in copied:
        target.get_layer(name).set_weights(source.get_layer(name).get_weights())

    def parameters(names):
        return sum(int(np.prod(shape)) for name in names
                   for shape in target_shapes[name])  # fmt: skip

    return TransferReport(
        copied=copied,
        created=created,
        source_joints=joint_count(source),
        target_joints=joint_count(target),
        copied_parameters=parameters(copied),
        created_parameters=parameters(created),
    )
