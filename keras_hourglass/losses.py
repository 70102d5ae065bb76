"""The heatmap loss: mean squared error against the target heatmaps, with
unannotated joints masked out (Newell et al. 2016, sec. 3.4).

Every stack is compared with the same target (intermediate supervision): one
`joint_heatmap_mse` per model output, with the pipeline's joint weights
[B, K] as `sample_weight`. Keras divides `weight * per_joint_mse` by B x K,
which is `masked_heatmap_loss`: the value does not depend on how many joints
a batch has annotated. The stock MSE cannot stand in: it averages over the
joints before the weights apply.
"""

import keras


@keras.saving.register_keras_serializable(package="keras_hourglass")
def joint_heatmap_mse(target_heatmaps, predicted_heatmaps):
    """float32 [B, K]: the squared error of one stack's heatmaps [B, h, w, K],
    averaged over the heatmap pixels of each joint."""
    target_heatmaps = keras.ops.cast(target_heatmaps, "float32")
    predicted_heatmaps = keras.ops.cast(predicted_heatmaps, "float32")
    squared = keras.ops.square(predicted_heatmaps - target_heatmaps)
    return keras.ops.mean(squared, axis=(1, 2))


def masked_heatmap_loss(target_heatmaps, predicted_heatmaps, joint_weights):
    """The masked heatmap MSE of one stack, a scalar: what Keras computes for
    `loss=joint_heatmap_mse` with `sample_weight=joint_weights` [B, K]."""
    per_joint = joint_heatmap_mse(target_heatmaps, predicted_heatmaps)
    joint_weights = keras.ops.cast(joint_weights, "float32")
    count = keras.ops.cast(keras.ops.size(per_joint), "float32")
    return keras.ops.sum(per_joint * joint_weights) / count
