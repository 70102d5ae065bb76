"""Fold batch norms into the convolutions that feed them, for inference.

In inference a batch norm is a per-channel affine map, so a convolution whose
output goes only to a batch norm is, with it, one convolution with scaled
kernel and shifted bias. The residual modules are pre-activation
(BN-ReLU-Conv), so only the stem's, the second and third of each module and
each stack's `linear` batch norm follow a convolution; the first reads the
module input, which the skip path also reads, and stays.

    folded = fold_batch_norms(model)   # a new functional model; `model` is unchanged

The folded model holds stock layers only, so it saves, exports and reloads
like the original; it is for inference only.
"""

import collections

import keras
import numpy as np


def foldable_batch_norms(model):
    """{batch norm name: convolution name} of every channel-axis batch norm
    that alone reads a channels-last `Conv2D`'s output (layers not shared)."""
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
    """`(kernel, bias)` of `convolution` then `batch_norm` (inference), in float64."""
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
    """A copy of a functional `model` with every `foldable_batch_norms` folded
    in; every other layer and output is as in `model`, and the heatmaps agree
    to float32 rounding."""
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
