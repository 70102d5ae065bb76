"""Rematerialisation (gradient checkpointing) of whole stacks (`--remat`).

The forward pass keeps only what enters and leaves each stack; the backward
pass reruns each stack, one at a time: activation memory falls to about one
stack's share, for one more forward pass per step. Only the model's `call`
changes, so its checkpoints, `.keras` file and exports are the plain model's.

Not `keras.RematScope`: on TensorFlow it wraps each layer in
`tf.recompute_grad`, which saves nothing for a one-operation layer and fails
inside `tf.function` for layers called with `training=` (batch norm).
"""

import keras
import tensorflow as tf

from keras_hourglass.model import builder_arguments_of
from keras_hourglass.model import heatmap_output_name
from keras_hourglass.model import stack_name

STEM_OUTPUT_LAYER = "stem_res3_add"


def segment_models(model):
    """(stem, stacks): functional sub-models sharing `model`'s layers; each
    stack returns [its heatmaps, if output] + [the next stack's input]."""
    output_names = set(model.output_names)
    stem_output = model.get_layer(STEM_OUTPUT_LAYER).output
    stem = keras.Model(model.input, stem_output, name="stem_segment")
    stacks, stack_input = [], stem_output
    n_stacks = builder_arguments_of(model)["n_stacks"]
    for index in range(1, n_stacks + 1):
        outputs = []
        if heatmap_output_name(index) in output_names:
            outputs.append(model.get_layer(heatmap_output_name(index)).output)
        if index < n_stacks:
            # The merge layer's output enters the next stack.
            outputs.append(model.get_layer(f"{stack_name(index)}_merge").output)
        stacks.append(
            keras.Model(stack_input, outputs, name=f"{stack_name(index)}_segment")
        )
        stack_input = outputs[-1]
    return stem, stacks


def recomputed(segment, training):
    """`segment(x, training=training)`, recomputed in the backward pass.

    The recomputation waits for the gradient at the segment's outputs: in a
    `tf.function` graph it would otherwise run early and hold every stack's
    activations at once. `keras.StatelessScope` drops its batch-norm updates.
    """

    @tf.custom_gradient
    def forward(x):
        outputs = segment(x, training=training)

        def gradient(*output_gradients, variables=()):
            with tf.control_dependencies(output_gradients):
                x_again = tf.identity(x)
            with tf.GradientTape() as tape:
                tape.watch(x_again)
                with keras.StatelessScope():
                    recomputed_outputs = segment(x_again, training=training)
            gradients = tape.gradient(
                recomputed_outputs, [x_again, *variables],
                output_gradients=list(output_gradients),
            )  # fmt: skip
            return gradients[0], gradients[1:]

        return outputs, gradient

    return forward


def rematerialize_stacks(model):
    """Makes `model` recompute each stack in its training backward pass."""
    stem, stacks = segment_models(model)
    plain_call = model.call

    def call(inputs, training=None, mask=None):
        if not training:
            return plain_call(inputs, training=training, mask=mask)
        x = recomputed(stem, training)(inputs)
        outputs = []
        for index, segment in enumerate(stacks):
            results = recomputed(segment, training)(x)
            results = results if isinstance(results, list) else [results]
            has_next = index < len(stacks) - 1
            outputs.extend(results[:-1] if has_next else results)
            x = results[-1]
        return outputs if len(outputs) > 1 else outputs[0]

    model.call = call
    return model
