"""The heatmap loss: mean squared error against the target heatmaps, with
unannotated joints masked out (Newell et al. 2016, sec. 3.4).

Every stack is compared with the same target (intermediate supervision); with
Keras this is one loss per model output, `loss={name: joint_heatmap_mse}`, and
the per-joint weights `[B, K]` from the input pipeline passed as
`sample_weight`. Keras then reduces `weight * per_joint_mse` with
"sum over batch size", i.e. divides by B x K, which is exactly
`masked_heatmap_loss` below: a joint with weight 0 contributes nothing, and the
value does not depend on how many joints a batch happens to have annotated.

Only `keras.ops` is used, so the loss runs on any backend. A model compiled
with it is saved with `keras_hourglass.saving.save_model`, so that the file
loads in processes that never import this module.
"""

import keras


@keras.saving.register_keras_serializable(package="keras_hourglass")
def joint_heatmap_mse(target_heatmaps, predicted_heatmaps):
    """Mean squared error per joint, averaged over the heatmap pixels.

    Args:
        target_heatmaps: float [B, h, w, K]. Target heatmaps.
        predicted_heatmaps: float [B, h, w, K]. One stack's predicted heatmaps.

    Returns:
        float32 [B, K]: the mean over h and w of the squared difference.
    """
    target_heatmaps = keras.ops.cast(target_heatmaps, "float32")
    predicted_heatmaps = keras.ops.cast(predicted_heatmaps, "float32")
    squared = keras.ops.square(predicted_heatmaps - target_heatmaps)
    return keras.ops.mean(squared, axis=(1, 2))


def masked_heatmap_loss(target_heatmaps, predicted_heatmaps, joint_weights):
    """The masked heatmap MSE of one stack as a scalar.

    `sum(joint_weights * joint_heatmap_mse) / (B * K)`, which is the value
    Keras computes for `loss=joint_heatmap_mse` with
    `sample_weight=joint_weights`.

    Args:
        target_heatmaps: float [B, h, w, K].
        predicted_heatmaps: float [B, h, w, K].
        joint_weights: float [B, K]. 0 for joints that must not contribute
            (not annotated), 1 otherwise.

    Returns:
        A float32 scalar.
    """
    per_joint = joint_heatmap_mse(target_heatmaps, predicted_heatmaps)
    joint_weights = keras.ops.cast(joint_weights, "float32")
    count = keras.ops.cast(keras.ops.size(per_joint), "float32")
    return keras.ops.sum(per_joint * joint_weights) / count


def stacked_heatmap_loss(target_heatmaps, predicted_stacks, joint_weights):
    """The total loss of every stack against the same target (a sum).

    Args:
        target_heatmaps: float [B, h, w, K].
        predicted_stacks: list of float [B, h, w, K], one per stack.
        joint_weights: float [B, K].

    Returns:
        `(total, per_stack)`: a float32 scalar and a list of scalars.
    """
    per_stack = [
        masked_heatmap_loss(target_heatmaps, predicted, joint_weights)
        for predicted in predicted_stacks
    ]
    return keras.ops.sum(keras.ops.stack(per_stack)), per_stack
