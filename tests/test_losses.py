"""The masked heatmap MSE, checked against a hand computation and against
what `model.fit` reports for the same batch."""

import keras
import numpy as np
import pytest

from keras_hourglass.losses import joint_heatmap_mse
from keras_hourglass.losses import masked_heatmap_loss


def random_batch(seed=0, batch=2, size=4, joints=3):
    rng = np.random.default_rng(seed)
    target = rng.uniform(size=(batch, size, size, joints)).astype("float32")
    predicted = rng.uniform(size=(batch, size, size, joints)).astype("float32")
    return target, predicted


def test_masked_loss_equals_a_hand_computation():
    target, predicted = random_batch()
    weights = np.array([[1, 0, 1], [0, 0, 1]], dtype="float32")
    expected = 0.0
    for b in range(2):
        for k in range(3):
            squared = (predicted[b, :, :, k] - target[b, :, :, k]) ** 2
            expected += weights[b, k] * squared.sum() / 16
    expected /= 2 * 3
    loss = float(masked_heatmap_loss(target, predicted, weights))
    assert loss == pytest.approx(expected, rel=1e-6)


def test_unannotated_joints_contribute_nothing():
    target, predicted = random_batch(seed=1)
    weights = np.array([[1, 0, 1], [1, 1, 0]], dtype="float32")
    before = float(masked_heatmap_loss(target, predicted, weights))
    # Wreck only the masked joints' predictions: the loss must not move.
    wrecked = predicted.copy()
    wrecked[0, :, :, 1] = 1e3
    wrecked[1, :, :, 2] = -1e3
    assert float(masked_heatmap_loss(target, wrecked, weights)) == before
    # Wrecking an annotated joint does move it.
    wrecked[0, :, :, 0] = 1e3
    assert float(masked_heatmap_loss(target, wrecked, weights)) > before + 1.0


def test_per_joint_mse_shape_and_zero_for_perfect_prediction():
    target, _ = random_batch()
    per_joint = keras.ops.convert_to_numpy(joint_heatmap_mse(target, target))
    assert per_joint.shape == (2, 3)
    assert np.all(per_joint == 0)


def test_keras_per_output_loss_with_sample_weights_equals_masked_loss():
    """`loss=[joint_heatmap_mse]` + per-joint `sample_weight` is the masked loss."""
    inputs = keras.Input((4, 4, 3))
    outputs = [
        keras.layers.Conv2D(3, 1, name=f"stack{i}_heatmaps")(inputs) for i in (1, 2)
    ]
    model = keras.Model(inputs, outputs)
    model.compile(loss=[joint_heatmap_mse, joint_heatmap_mse])
    rng = np.random.default_rng(4)
    images = rng.uniform(size=(2, 4, 4, 3)).astype("float32")
    target, _ = random_batch(seed=5)
    weights = np.array([[1, 0, 1], [0, 1, 1]], dtype="float32")
    logs = model.evaluate(
        images, (target, target), sample_weight=(weights, weights),
        return_dict=True, verbose=0,
    )  # fmt: skip
    predictions = model.predict(images, verbose=0)
    for index, predicted in enumerate(predictions, start=1):
        expected = float(masked_heatmap_loss(target, predicted, weights))
        assert logs[f"stack{index}_heatmaps_loss"] == pytest.approx(expected, rel=1e-5)
    assert logs["loss"] == pytest.approx(
        logs["stack1_heatmaps_loss"] + logs["stack2_heatmaps_loss"], rel=1e-5
    )
