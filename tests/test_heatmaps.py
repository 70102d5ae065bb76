"""Tests for keras_hourglass.heatmaps."""

import numpy as np
import tensorflow as tf

from keras_hourglass.heatmaps import decode_heatmaps
from keras_hourglass.heatmaps import flip_heatmaps
from keras_hourglass.heatmaps import render_heatmaps

PAIRS = [(0, 1)]


def test_peak_is_at_the_exact_sub_pixel_location():
    joints = np.array([[10.3, 20.8], [5.0, 7.0]], np.float32)
    maps, weights = render_heatmaps(joints, [1, 1], 32, sigma=1.0)
    maps = maps.numpy()
    assert maps.shape == (32, 32, 2)
    np.testing.assert_allclose(weights.numpy(), [1.0, 1.0])
    assert maps[7, 5, 1] == 1.0
    expected = np.exp(-((10 - 10.3) ** 2 + (21 - 20.8) ** 2) / 2)
    np.testing.assert_allclose(maps[21, 10, 0], expected, rtol=1e-5)
    # The weighted mean of the map is the sub-pixel location.
    ys, xs = np.mgrid[0:32, 0:32]
    total = maps[..., 0].sum()
    mean = [(xs * maps[..., 0]).sum() / total, (ys * maps[..., 0]).sum() / total]
    np.testing.assert_allclose(mean, [10.3, 20.8], atol=1e-3)


def test_sigma_controls_the_width():
    narrow, _ = render_heatmaps([[16.0, 16.0]], [1], 32, sigma=1.0)
    wide, _ = render_heatmaps([[16.0, 16.0]], [1], 32, sigma=2.0)
    np.testing.assert_allclose(narrow[16, 18, 0], np.exp(-2.0), rtol=1e-5)
    np.testing.assert_allclose(wide[16, 18, 0], np.exp(-0.5), rtol=1e-5)


def test_unannotated_and_outside_joints_get_zero_maps():
    joints = np.array([[np.nan, np.nan], [70.0, 3.0], [-0.6, 4.0], [-0.4, 4.0]])
    maps, weights = render_heatmaps(joints, [0, 1, 1, 1], 64)
    maps = maps.numpy()
    assert np.all(np.isfinite(maps))
    assert np.all(maps[..., :3] == 0.0)
    assert maps[..., 3].max() > 0.8
    # Unannotated: weight 0. Annotated but outside the crop: weight 1 (the
    # network must predict an empty map there, as in pose-hg-train).
    np.testing.assert_array_equal(weights.numpy(), [0.0, 1.0, 1.0, 1.0])


def test_render_runs_inside_tf_data():
    dataset = tf.data.Dataset.from_tensor_slices(
        (np.array([[[3.0, 4.0]]], np.float32), np.array([[1]]))
    ).map(lambda joints, annotated: render_heatmaps(joints, annotated, 16))
    maps, weights = next(iter(dataset))
    assert maps.shape == (16, 16, 1) and float(maps[4, 3, 0]) == 1.0


def test_decode_recovers_sub_pixel_positions_better_than_argmax():
    rng = np.random.default_rng(0)
    truth = rng.uniform(2.0, 29.0, size=(8, 5, 2)).astype(np.float32)
    maps = np.stack([render_heatmaps(t, np.ones(5), 32)[0].numpy() for t in truth])
    coords, scores = decode_heatmaps(maps)
    coords = np.asarray(coords)
    assert coords.shape == (8, 5, 2) and np.asarray(scores).shape == (8, 5)
    refined_error = np.abs(coords - truth)
    argmax_error = np.abs(np.round(truth) - truth)
    assert refined_error.max() <= 0.5
    assert refined_error.mean() < argmax_error.mean()
    assert np.all(np.asarray(scores) > 0.6)


def test_decode_moves_toward_the_higher_neighbour_only_inside_the_map():
    maps = np.zeros((1, 5, 6, 2), np.float32)
    maps[0, 2, 3, 0] = 1.0
    maps[0, 2, 4, 0] = 0.5  # right neighbour higher
    maps[0, 1, 3, 0] = 0.2  # upper neighbour higher
    maps[0, 0, 5, 1] = 1.0  # corner: no neighbours on either axis
    maps[0, 1, 5, 1] = 0.9
    coords, scores = decode_heatmaps(maps)
    np.testing.assert_allclose(np.asarray(coords)[0], [[3.25, 1.75], [5.0, 0.0]])
    np.testing.assert_allclose(np.asarray(scores)[0], [1.0, 1.0])


def test_decode_traces_with_unknown_batch_size():
    decode = tf.function(
        decode_heatmaps, input_signature=[tf.TensorSpec([None, 16, 16, 3])]
    )
    maps = render_heatmaps([[3.0, 4.0], [8.4, 9.0], [12.0, 1.6]], [1, 1, 1], 16)[0]
    coords, _ = decode(tf.stack([maps, maps]))
    np.testing.assert_allclose(coords[1].numpy(), [[3, 4], [8.25, 9], [12, 1.75]])


def test_flip_heatmaps_mirrors_and_swaps_channels():
    joints = np.array([[3.0, 5.0], [10.0, 2.0], [7.0, 7.0]])
    maps = render_heatmaps(joints, [1, 1, 1], 16)[0].numpy()[None]
    flipped = np.asarray(flip_heatmaps(maps, PAIRS))
    mirrored_joints = np.array([[15 - 10.0, 2.0], [15 - 3.0, 5.0], [15 - 7.0, 7.0]])
    expected = render_heatmaps(mirrored_joints, [1, 1, 1], 16)[0].numpy()[None]
    np.testing.assert_allclose(flipped, expected, atol=1e-6)
    np.testing.assert_allclose(np.asarray(flip_heatmaps(flipped, PAIRS)), maps)
