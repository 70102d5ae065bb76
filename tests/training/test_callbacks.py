"""Validation PCKh, NaN handling and heatmap images of the training callbacks."""

import math
import os
import signal
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_hourglass.decoding import heatmap_coords_to_image
from keras_hourglass.drawing import PERSON_COLOURS
from keras_hourglass.heatmaps import render_heatmaps
from keras_hourglass.joint_sets import custom_joint_set
from keras_hourglass.saving import load_model
from keras_hourglass.transforms import crop_matrix
from keras_hourglass.transforms import scale_grid_matrix
from keras_hourglass.transforms import transform_points
from training.callbacks import FiniteModelCheckpoint
from training.callbacks import NanGuard
from training.callbacks import StopOnInterrupt
from training.callbacks import logs_are_finite
from training.pckh_validation import HeatmapImageSummary
from training.pckh_validation import PckhValidation
from training.pckh_validation import overlay_prediction
from training.pckh_validation import pckh_percent

INPUT, OUTPUT = 64, 16


def test_pckh_percent_on_a_hand_made_case():
    joints = np.zeros((1, 3, 2))
    predicted = np.array([[[0.4, 0.0], [0.0, 0.6], [5.0, 5.0]]])
    annotated = np.array([[True, True, False]])
    # Normaliser 1, threshold 0.5: joint 0 hits, joint 1 misses, 2 is ignored.
    assert pckh_percent(predicted, joints, annotated, np.ones(1)) == 50.0
    assert math.isnan(pckh_percent(predicted, joints, ~np.ones((1, 3), bool), [1.0]))


def test_validation_counts_a_hit_at_the_threshold_as_evaluation_does():
    from evaluation.metrics import HIT_AT_THRESHOLD

    joints, annotated = np.zeros((1, 1, 2)), np.ones((1, 1), bool)
    at_threshold = np.array([[[0.5, 0.0]]])  # normaliser 1, threshold 0.5
    for metric, hit in HIT_AT_THRESHOLD.items():
        percent = pckh_percent(
            at_threshold, joints, annotated, np.ones(1), 0.5, hit_at_threshold=hit
        )
        assert percent == (100.0 if hit else 0.0), metric
    # Torso PCK (eval_pose) counts it; PCKh (the standard script) does not.
    assert HIT_AT_THRESHOLD["pck"] and not HIT_AT_THRESHOLD["pckh"]


def person_crop(seed):
    """A fake person: image joints, crop matrix and their heatmap targets."""
    rng = np.random.default_rng(seed)
    center, scale = rng.uniform(100, 200, size=2), rng.uniform(0.8, 1.5)
    matrix = np.asarray(crop_matrix(center, scale, INPUT))
    joints_input = rng.uniform(4, INPUT - 4, size=(4, 2))
    joints_image = np.asarray(transform_points(joints_input, np.linalg.inv(matrix)))
    joints_heatmap = np.asarray(
        transform_points(joints_input, scale_grid_matrix(INPUT, OUTPUT))
    )
    return joints_image, matrix, joints_heatmap


def test_decoded_target_heatmaps_map_back_to_the_image_joints():
    people = [person_crop(seed) for seed in range(3)]
    heatmaps = np.stack(
        [np.asarray(render_heatmaps(hm, np.ones(4), OUTPUT)[0]) for _, _, hm in people]
    )
    coords = np.stack([hm for _, _, hm in people])
    matrices = np.stack([matrix for _, matrix, _ in people])
    image_joints = np.stack([joints for joints, _, _ in people])
    mapped = heatmap_coords_to_image(coords, matrices, INPUT, OUTPUT)
    np.testing.assert_allclose(mapped, image_joints, atol=1e-2)
    subset = {
        "images": np.zeros((3, INPUT, INPUT, 3), "float32"),
        "joints": image_joints,
        "annotated": np.ones((3, 4), bool),
        "normalizers": np.full(3, 30.0),
        "crop_matrices": matrices,
    }
    scorer = PckhValidation(subset)
    assert scorer.stack_pckh(heatmaps) == 100.0
    # Heatmaps shifted by 8 heatmap px (far beyond half a head) all miss.
    assert scorer.stack_pckh(np.roll(heatmaps, 8, axis=2)) == 0.0


def tiny_two_output_model():
    inputs = keras.Input((INPUT, INPUT, 3))
    pooled = keras.layers.AveragePooling2D(4)(inputs)
    outputs = [
        keras.layers.Conv2D(4, 1, name=f"stack{i}_heatmaps")(pooled) for i in (1, 2)
    ]
    return keras.Model(inputs, outputs)


def test_validation_callback_logs_every_stack():
    joints, matrix, _ = person_crop(0)
    subset = {
        "images": np.random.default_rng(0).uniform(size=(2, INPUT, INPUT, 3)),
        "joints": np.stack([joints, joints]),
        "annotated": np.ones((2, 4), bool),
        "normalizers": np.full(2, 30.0),
        "crop_matrices": np.stack([matrix, matrix]),
    }
    callback = PckhValidation(subset)
    callback.set_model(tiny_two_output_model())
    logs = {}
    callback.on_epoch_end(0, logs)
    assert set(logs) == {"val_pckh_stack1", "val_pckh_stack2", "val_pckh"}
    assert logs["val_pckh"] == logs["val_pckh_stack2"]
    assert all(0.0 <= value <= 100.0 for value in logs.values())


def test_nan_loss_keeps_the_last_good_checkpoint(tmp_path, capsys):
    assert logs_are_finite({"loss": 1.0}) and not logs_are_finite({"loss": np.nan})
    model = tiny_two_output_model()
    path = tmp_path / "latest.keras"
    joint_set = custom_joint_set("four", ["l_hand", "r_hand", "head", "neck"])
    checkpoint = FiniteModelCheckpoint(str(path), joint_set)
    checkpoint.set_model(model)
    checkpoint.on_epoch_end(0, {"loss": 0.5})
    good_bytes = path.read_bytes()
    # Saved as every model file is: atomically, with its sidecar.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.json", "latest.keras"]
    assert load_model(path).joint_set == joint_set
    checkpoint.on_epoch_end(1, {"loss": float("nan")})
    assert path.read_bytes() == good_bytes
    guard = NanGuard(path)
    guard.set_model(model)
    guard.on_epoch_begin(1)
    guard.on_train_batch_end(3, {"loss": float("nan")})
    assert guard.stopped_on_nan and model.stop_training
    message = capsys.readouterr().out
    assert "epoch 2, step 4" in message and str(path) in message


def test_overlay_draws_joints_on_the_image():
    image = np.zeros((INPUT, INPUT, 3), "float32")
    heatmaps, _ = render_heatmaps(np.array([[4.0, 4.0], [10.0, 12.0]]), [1, 1], OUTPUT)
    drawn = overlay_prediction(image, np.asarray(heatmaps), skeleton=[(0, 1)])
    assert drawn.shape == (INPUT, INPUT, 3)
    assert 0.0 <= drawn.min() and drawn.max() <= 1.0
    # Joint 0 at heatmap px (4, 4) is input px (17.5, 17.5): a dot in the
    # first person colour of keras_hourglass.drawing there.
    np.testing.assert_allclose(drawn[17, 17], np.array(PERSON_COLOURS[0]) / 255)
    truth = np.array([[17.5, 17.5], [41.5, 49.5]])
    both = overlay_prediction(image, np.asarray(heatmaps), [(0, 1)], None,
                              truth, np.ones(2))  # fmt: skip
    # Ground truth on the left, the prediction on the right, under titles.
    assert both.shape[1] > 2 * INPUT and both.shape[0] > INPUT
    np.testing.assert_allclose(both[-INPUT:, -INPUT:], drawn)


def test_a_swallowed_ctrl_c_stops_training_at_the_next_batch_end():
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    stop = StopOnInterrupt()
    try:
        stop.on_train_begin()
        stop.on_train_batch_end(0)  # nothing asked yet
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)  # the handler runs here, at the latest
        except KeyboardInterrupt:
            pass  # swallowed, as a garbage-collection callback does
        with pytest.raises(KeyboardInterrupt):
            stop.on_train_batch_end(1)
        stop.on_train_end()
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_program_that_ignores_ctrl_c_keeps_ignoring_it():
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        StopOnInterrupt().on_train_begin()
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def test_image_summary_writes_each_person_with_its_truth_in_crop_pixels(tmp_path):
    people = [person_crop(seed) for seed in (0, 1, 2)]
    subset = {
        "images": np.random.default_rng(0).uniform(size=(3, INPUT, INPUT, 3)),
        "joints": np.stack([joints for joints, _, _ in people]),
        "annotated": np.array([[1, 1, 0, 1]] * 3, bool),
        "normalizers": np.full(3, 30.0),
        "crop_matrices": np.stack([matrix for _, matrix, _ in people]),
    }
    joint_set = custom_joint_set("four", ["a", "b", "c", "d"], None, "0:1,2:3")
    model = tiny_two_output_model()
    callback = HeatmapImageSummary(subset, 2, tmp_path, joint_set)
    callback.set_model(model)
    callback.on_epoch_end(0)
    (event_file,) = tmp_path.glob("events.out.tfevents.*")
    written = [
        tf.make_ndarray(value.tensor)
        for event in tf.compat.v1.train.summary_iterator(str(event_file))
        for value in event.summary.value
        if value.tag == "validation/prediction"
    ]
    assert len(written) == 1
    pngs = written[0][2:]  # width, height, then one PNG per image
    assert len(pngs) == 2  # the first `count` people only
    last_stack = np.asarray(model(subset["images"][:2])[-1])
    for index, png in enumerate(pngs):
        joints, matrix, _ = people[index]
        # Truth in crop px, computed here without the library's transforms.
        truth = joints @ matrix[:2, :2].T + matrix[:2, 2]
        expected = overlay_prediction(
            subset["images"][index].astype("float32"), last_stack[index],
            joint_set.skeleton, joint_set.joint_names, truth,
            subset["annotated"][index],
        )  # fmt: skip
        image = tf.io.decode_png(png).numpy() / 255.0
        assert image.shape == expected.shape
        np.testing.assert_allclose(image, expected, atol=1.0 / 255 + 1e-6)
