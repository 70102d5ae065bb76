"""Stacked Hourglass Networks (Newell, Yang, Deng, ECCV 2016), Keras 3 functional API.

Paper: https://arxiv.org/abs/1603.06937. The graph follows the official Torch
code (princeton-vl/pose-hg-train, `src/models/hg.lua` and `layers/Residual.lua`)
layer for layer, so the trainable parameter counts match it exactly.

Only `keras.layers` is used (no `tf.*`): the builder runs on the TensorFlow,
JAX and PyTorch backends, and a saved `.keras` file reloads in safe mode with
no custom objects.
"""

import re

import keras
from keras import layers

# Torch's batch-norm defaults (eps 1e-5, running-average momentum 0.1), which
# the official model trained with; Keras's momentum counts the other way.
BATCH_NORM_EPSILON = 1e-5
BATCH_NORM_MOMENTUM = 0.9
# Parses what `heatmap_output_name` builds; keep the two side by side.
HEATMAP_OUTPUT_PATTERN = re.compile(r"stack(\d+)_heatmaps")


def _require_positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def check_model_arguments(
    n_stacks, n_joints, n_features, n_modules, depth, input_shape
):
    """Raises ValueError naming the constraint the arguments break."""
    _require_positive_int(n_stacks, "n_stacks")
    _require_positive_int(n_joints, "n_joints")
    _require_positive_int(n_features, "n_features")
    _require_positive_int(n_modules, "n_modules")
    _require_positive_int(depth, "depth")
    if n_features % 2:
        raise ValueError(
            f"n_features must be even (the bottleneck halves it), got {n_features}"
        )
    if len(tuple(input_shape)) != 3:
        raise ValueError(
            f"input_shape must be (height, width, channels), got {input_shape!r}"
        )
    height, width, channels = input_shape
    _require_positive_int(channels, "input channels")
    # The stem divides by 4 and each hourglass level halves again.
    divisor = 2 ** (depth + 2)
    for side_name, side in (("height", height), ("width", width)):
        if isinstance(side, bool) or not isinstance(side, int) or side < divisor:
            raise ValueError(
                f"input {side_name} must be an integer of at least 2 ** (depth + 2) = "
                f"{divisor} for depth {depth}, got {side!r}"
            )
        if side % divisor:
            raise ValueError(
                f"input {side_name} {side} is not divisible by 2 ** (depth + 2) = "
                f"{divisor} (stem /4, then {depth} hourglass poolings)"
            )


def torch_default_initializer():
    """Torch's `SpatialConvolution` initialisation, U(+-1/sqrt(fan_in)): variance
    scaling with scale 1/3 has exactly that limit, sqrt(3 * scale / fan_in)."""
    return keras.initializers.VarianceScaling(
        scale=1.0 / 3.0, mode="fan_in", distribution="uniform"
    )


def apply_conv(x, filters, kernel_size, name, strides=1, padding="same"):
    """A convolution with bias, as every convolution in the official network."""
    return layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding=padding,
        use_bias=True,
        kernel_initializer=torch_default_initializer(),
        name=name,
    )(x)


def apply_batch_norm_relu(x, name):
    x = layers.BatchNormalization(
        epsilon=BATCH_NORM_EPSILON, momentum=BATCH_NORM_MOMENTUM, name=f"{name}_bn"
    )(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def apply_residual(x, filters, name):
    """The pre-activation bottleneck residual module (paper Fig. 4, left).

    BN-ReLU-Conv1x1(filters/2), BN-ReLU-Conv3x3(filters/2), BN-ReLU-Conv1x1(filters),
    added to the input; the skip path is a 1x1 convolution only when the channel
    count changes (the official `skipLayer`, with no batch norm).
    """
    in_channels = x.shape[-1]
    y = apply_batch_norm_relu(x, f"{name}_pre1")
    y = apply_conv(y, filters // 2, 1, f"{name}_conv1")
    y = apply_batch_norm_relu(y, f"{name}_pre2")
    y = apply_conv(y, filters // 2, 3, f"{name}_conv2")
    y = apply_batch_norm_relu(y, f"{name}_pre3")
    y = apply_conv(y, filters, 1, f"{name}_conv3")
    skip = x if in_channels == filters else apply_conv(x, filters, 1, f"{name}_skip")
    return layers.Add(name=f"{name}_add")([skip, y])


def apply_residuals(x, filters, count, name):
    for index in range(count):
        x = apply_residual(x, filters, f"{name}{index + 1}")
    return x


def apply_hourglass(x, depth, filters, n_modules, name):
    """One hourglass (paper Fig. 3), built recursively down `depth` levels:
    the upper branch keeps the resolution, the lower one pools, recurses and
    upsamples by nearest neighbour; the two are added."""
    upper = apply_residuals(x, filters, n_modules, f"{name}_up_res")
    lower = layers.MaxPooling2D(2, strides=2, name=f"{name}_pool")(x)
    lower = apply_residuals(lower, filters, n_modules, f"{name}_low1_res")
    if depth > 1:
        lower = apply_hourglass(lower, depth - 1, filters, n_modules, f"{name}_inner")
    else:
        lower = apply_residuals(lower, filters, n_modules, f"{name}_low2_res")
    lower = apply_residuals(lower, filters, n_modules, f"{name}_low3_res")
    lower = layers.UpSampling2D(2, interpolation="nearest", name=f"{name}_upsample")(
        lower
    )
    return layers.Add(name=f"{name}_add")([upper, lower])


def apply_stem(images, n_features):
    """Conv7x7/2 + BN + ReLU, Residual(64->128), MaxPool, Residual(128->128),
    Residual(128->n_features): 256x256 input -> 64x64 features."""
    # Symmetric 3-pixel padding as Torch's conv(7, stride 2, pad 3); Keras "same"
    # would pad 2/3 and shift the feature grid by half a pixel.
    x = layers.ZeroPadding2D(3, name="stem_pad")(images)
    x = apply_conv(x, 64, 7, "stem_conv", strides=2, padding="valid")
    x = apply_batch_norm_relu(x, "stem")
    x = apply_residual(x, 128, "stem_res1")
    x = layers.MaxPooling2D(2, strides=2, name="stem_pool")(x)
    x = apply_residual(x, 128, "stem_res2")
    return apply_residual(x, n_features, "stem_res3")


def stack_name(stack_index):
    """The prefix of stack `stack_index`'s layers (1-based): `stack1`, ..."""
    return f"stack{stack_index}"


def heatmap_output_name(stack_index):
    """The output name of stack `stack_index` (1-based): `stack1_heatmaps`, ..."""
    return f"{stack_name(stack_index)}_heatmaps"


def heatmap_head_name(stack_index):
    """The 1x1 convolution predicting a stack's heatmaps: `stack1_heatmap_conv`."""
    return f"{stack_name(stack_index)}_heatmap_conv"


def prediction_remap_name(stack_index):
    """The 1x1 convolution mapping a stack's heatmaps into the next stack's
    features: `stack1_remap_heatmaps`, ..."""
    return f"{stack_name(stack_index)}_remap_heatmaps"


def joint_head_layer_names(n_stacks):
    """The layers whose weights depend on the joint count: every stack's
    heatmap head and every remap of heatmaps; the rest is the backbone."""
    heads = [heatmap_head_name(index) for index in range(1, n_stacks + 1)]
    remaps = [prediction_remap_name(index) for index in range(1, n_stacks)]
    return tuple(heads + remaps)


def stack_index_of_output(output_name):
    """`"stack8_heatmaps"` -> 8; None for a name not made by `heatmap_output_name`."""
    match = HEATMAP_OUTPUT_PATTERN.fullmatch(output_name)
    return int(match[1]) if match else None


def output_stack_names(output_names):
    """The stack of each heatmap output (`stack2_heatmaps` -> `stack2`: a
    model without intermediate supervision has only the last stack's);
    outputs not named by stack are numbered in order."""
    stacks = [stack_index_of_output(name) for name in output_names]
    if None in stacks:
        stacks = range(1, len(stacks) + 1)
    return tuple(stack_name(stack) for stack in stacks)


def heatmap_model_problem(model):
    """Why `model` is not a heatmap model (one square RGB input [N, S, S, 3],
    heatmaps [N, h, w, K] from every output), or None."""
    if len(model.inputs) != 1:
        return f"{len(model.inputs)} inputs, not one image"
    shape = tuple(model.inputs[0].shape)
    if len(shape) != 4 or shape[1] != shape[2] or shape[3] != 3 or not shape[1]:
        return f"input of shape {shape}, not a square RGB image [N, S, S, 3]"
    for output in model.outputs:
        if len(output.shape) != 4 or not output.shape[-1]:
            return f"output of shape {tuple(output.shape)}, not heatmaps [N, h, w, K]"
    return None


def joint_count(model):
    """The joints K a model predicts: the channels of its last heatmaps."""
    return int(model.outputs[-1].shape[-1])


def builder_arguments_of(model):
    """The `build_stacked_hourglass` arguments of a model (whose file records
    none), read from its input, outputs and layer names; None for what a
    model built some other way does not show."""
    layer_names = {layer.name for layer in model.layers}
    stacks = [stack_index_of_output(name) for name in model.output_names]
    n_stacks = None if None in stacks else max(stacks)
    n_features = n_modules = depth = None
    if "stem_res3_conv3" in layer_names:
        n_features = int(model.get_layer("stem_res3_conv3").filters)
    first_hourglass = f"{stack_name(1)}_hg"
    if f"{first_hourglass}_pool" in layer_names:
        n_modules = depth = 1
        while f"{first_hourglass}_up_res{n_modules + 1}_add" in layer_names:
            n_modules += 1
        while f"{first_hourglass}{'_inner' * depth}_pool" in layer_names:
            depth += 1
    return {
        "n_stacks": n_stacks,
        "n_joints": joint_count(model),
        "n_features": n_features,
        "n_modules": n_modules,
        "depth": depth,
        "input_shape": list(model.input_shape[1:]),
        "intermediate_supervision": n_stacks is not None
        and len(model.outputs) == n_stacks,
        "name": model.name,
    }


def build_stacked_hourglass(
    n_stacks=8,
    n_joints=16,
    n_features=256,
    n_modules=1,
    depth=4,
    input_shape=(256, 256, 3),
    intermediate_supervision=True,
    name="stacked_hourglass",
):
    """Builds the stacked hourglass network as a functional `keras.Model`.

    Args:
        n_stacks: int. Hourglasses stacked end to end. Defaults to 8 (the paper).
        n_joints: int. Heatmaps per stack, one per keypoint. Defaults to 16 (MPII).
        n_features: int. Channels through the hourglasses. Defaults to 256.
        n_modules: int. Residual modules at each hourglass step. Defaults to 1.
        depth: int. Hourglass levels (4: 64x64 down to 4x4). Defaults to 4.
        input_shape: tuple. (height, width, channels); height and width must be
            divisible by 2 ** (depth + 2). Defaults to (256, 256, 3).
        intermediate_supervision: bool. If True, every stack's heatmaps are an
            output (a loss on each, as the paper); if False only the last one's.
        name: str. The model name.

    Returns:
        A `keras.Model` whose outputs are heatmap tensors, shape
        (batch, height / 4, width / 4, n_joints), float32 under any precision
        policy, named `stack{i}_heatmaps` (see `model.output_names`); called,
        it returns a list of them, or a bare tensor when there is one output.

    Example:
        >>> model = build_stacked_hourglass(n_stacks=2, input_shape=(128, 128, 3))
        >>> model.output_names
        ['stack1_heatmaps', 'stack2_heatmaps']
    """
    check_model_arguments(n_stacks, n_joints, n_features, n_modules, depth, input_shape)
    images = keras.Input(shape=tuple(input_shape), name="images")
    stack_input = apply_stem(images, n_features)
    outputs = []
    for index in range(1, n_stacks + 1):
        prefix = stack_name(index)
        x = apply_hourglass(stack_input, depth, n_features, n_modules, f"{prefix}_hg")
        x = apply_residuals(x, n_features, n_modules, f"{prefix}_out_res")
        x = apply_conv(x, n_features, 1, f"{prefix}_linear")
        features = apply_batch_norm_relu(x, f"{prefix}_linear")
        heatmaps = apply_conv(features, n_joints, 1, heatmap_head_name(index))
        # An explicit float32 cast keeps losses and decoding in full precision
        # under a mixed-precision policy.
        named = layers.Activation(
            "linear", dtype="float32", name=heatmap_output_name(index)
        )
        if intermediate_supervision or index == n_stacks:
            outputs.append(named(heatmaps))
        if index < n_stacks:
            # Intermediate predictions are remapped into the main path (Fig. 4).
            remapped_features = apply_conv(
                features, n_features, 1, f"{prefix}_remap_features"
            )
            remapped_heatmaps = apply_conv(
                heatmaps, n_features, 1, prediction_remap_name(index)
            )
            stack_input = layers.Add(name=f"{prefix}_merge")(
                [stack_input, remapped_features, remapped_heatmaps]
            )
    return keras.Model(inputs=images, outputs=outputs, name=name)
