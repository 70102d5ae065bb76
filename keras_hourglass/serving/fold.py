"""Fold batch norms into the convolutions that feed them, for inference.

In inference a batch norm is a per-channel affine map, so when a
convolution's output goes only to a batch norm, the two are one convolution
with scaled kernel and shifted bias. The hourglass's residual modules are
pre-activation (BN-ReLU-Conv), so only some batch norms follow a convolution:
the stem's, the second and third of each residual module (after its 1x1 and
3x3 convolutions) and each stack's `linear` one. The first batch norm of a
module reads the module input, which the skip path also reads: it stays.

    folded = fold_batch_norms(model)   # a new functional model; `model` is unchanged

The folded model is built from stock Keras layers (`Conv2D` without the
folded `BatchNormalization` layers), so it saves, exports and reloads like
the original; it is for inference only (training it would train no batch
norm where one was).
"""

import collections

import keras
import numpy as np


def foldable_batch_norms(model):
    """Returns {batch norm layer name: convolution layer name} for every
    `BatchNormalization` over the channel axis whose input is the output of
    a channels-last `Conv2D` that no other layer (and no model output) reads.

    Every layer must be called once (no shared layers), as in the hourglass.
    """
    producer = {}
    for layer in model.layers:
        for tensor in keras.tree.flatten(layer.output):
            producer[id(tensor)] = layer
    reads = collections.Counter()
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        for tensor in keras.tree.flatten(layer.input):
            reads[id(tensor)] += 1
    for tensor in model.outputs:
        reads[id(tensor)] += 1
    pairs = {}
    for layer in model.layers:
        if not isinstance(layer, keras.layers.BatchNormalization):
            continue
        (tensor,) = keras.tree.flatten(layer.input)
        source = producer.get(id(tensor))
        if (
            isinstance(source, keras.layers.Conv2D)
            and source.data_format == "channels_last"
            and layer.axis in (-1, len(tensor.shape) - 1)
            and reads[id(tensor)] == 1
        ):
            pairs[layer.name] = source.name
    return pairs


def folded_convolution_weights(convolution, batch_norm):
    """Returns `(kernel, bias)` of the convolution equal to `batch_norm`
    (inference mode) applied after `convolution`, computed in float64."""
    kernel = np.asarray(convolution.kernel.numpy(), np.float64)
    channels = kernel.shape[-1]
    bias = (
        np.asarray(convolution.bias.numpy(), np.float64)
        if convolution.use_bias
        else np.zeros(channels)
    )
    gamma = batch_norm.gamma.numpy() if batch_norm.scale else np.ones(channels)
    beta = batch_norm.beta.numpy() if batch_norm.center else np.zeros(channels)
    mean = np.asarray(batch_norm.moving_mean.numpy(), np.float64)
    variance = np.asarray(batch_norm.moving_variance.numpy(), np.float64)
    multiplier = np.asarray(gamma, np.float64) / np.sqrt(variance + batch_norm.epsilon)
    folded_kernel = kernel * multiplier
    folded_bias = (bias - mean) * multiplier + np.asarray(beta, np.float64)
    dtype = convolution.kernel.dtype
    return folded_kernel.astype(dtype), folded_bias.astype(dtype)


def fold_batch_norms(model):
    """Returns a copy of a functional `model` in which every batch norm that
    follows a convolution (see `foldable_batch_norms`) is folded into it.

    Outputs, their names and every other layer are as in `model`; the
    heatmaps agree with the original's inference outputs to float32
    rounding.
    """
    pairs = foldable_batch_norms(model)
    folded_convolutions = {conv: norm for norm, conv in pairs.items()}

    def clone_layer(layer):
        config = layer.get_config()
        if layer.name in folded_convolutions:
            config["use_bias"] = True
        return layer.__class__.from_config(config)

    def call_layer(layer, *args, **kwargs):
        # A folded batch norm is skipped: its input passes straight through.
        if layer.name in pairs:
            return args[0]
        return layer(*args, **kwargs)

    folded = keras.models.clone_model(
        model, clone_function=clone_layer, call_function=call_layer
    )
    for layer in folded.layers:
        source = model.get_layer(layer.name)
        if layer.name in folded_convolutions:
            norm = model.get_layer(folded_convolutions[layer.name])
            layer.set_weights(list(folded_convolution_weights(source, norm)))
        else:
            layer.set_weights(source.get_weights())
    return folded
