"""Tests for keras_hourglass.decoding: flip test, decoding to image pixels."""

import json

import numpy as np
import pytest
import tensorflow as tf

from keras_hourglass.data.decode import warp_image
from keras_hourglass.decoding import flip_test_heatmaps
from keras_hourglass.decoding import heatmaps_to_image_keypoints
from keras_hourglass.decoding import predict_keypoints
from keras_hourglass.heatmaps import render_heatmaps
from keras_hourglass.joint_sets import MPII_16
from keras_hourglass.model import build_stacked_hourglass
from keras_hourglass.transforms import crop_box_from_person
from keras_hourglass.transforms import crop_matrix
from keras_hourglass.transforms import scale_grid_matrix
from keras_hourglass.transforms import transform_points

INPUT_SIZE, HEATMAP_SIZE = 256, 64


def read_people(shared_data):
    annotations = json.loads(
        (shared_data / "mpii_samples/annotations.json").read_text()
    )
    return annotations["people"]


def person_matrix(person):
    center, scale = crop_box_from_person(person["mpii_objpos"], person["mpii_scale"])
    return crop_matrix(center, scale, INPUT_SIZE)


def test_ground_truth_heatmaps_decode_to_annotated_joints(shared_data):
    """GT heatmaps of real MPII people, decoded and mapped back through the
    inverse crop, land on the annotated joints (error well under 1 heatmap px)."""
    people = read_people(shared_data)
    matrices, heatmaps, joints, crops = [], [], [], []
    for person in people:
        matrix = person_matrix(person)
        to_heatmap = tf.linalg.matmul(
            scale_grid_matrix(INPUT_SIZE, HEATMAP_SIZE), matrix
        )
        joints_out = transform_points(person["joints"], to_heatmap)
        maps, _ = render_heatmaps(joints_out, person["joints_annotated"], HEATMAP_SIZE)
        image = tf.io.decode_jpeg(
            (shared_data / "mpii_samples" / person["image"]).read_bytes()
        )
        crops.append(warp_image(image, matrix, INPUT_SIZE))
        matrices.append(matrix)
        heatmaps.append(maps)
        joints.append(person["joints"])
    keypoints, scores = heatmaps_to_image_keypoints(
        tf.stack(heatmaps), tf.stack(matrices), INPUT_SIZE
    )
    joints = np.asarray(joints, np.float32)
    errors = np.linalg.norm(keypoints.numpy() - joints, axis=-1)
    # One heatmap px is 200 * 1.25 * scale / 64 original px.
    heatmap_px = np.array([250.0 * p["mpii_scale"] / HEATMAP_SIZE for p in people])
    errors_in_heatmap_px = errors / heatmap_px[:, None]
    assert crops[0].shape == (INPUT_SIZE, INPUT_SIZE, 3)
    assert np.all(scores.numpy() > 0.5)
    # Quarter-pixel refinement: at most 0.25 heatmap px per axis.
    assert errors_in_heatmap_px.max() <= 0.25 * np.sqrt(2) + 1e-3
    assert errors_in_heatmap_px.mean() < 0.25
    assert errors.max() < 5.0  # original px, scales 1.8 to 3.4


def test_refinement_is_not_truncated_to_integers():
    """A peak at heatmap px (10, 20) with a higher right/lower neighbour decodes
    to (10.25, 20.25) heatmap px, then to exact original px."""
    maps = np.zeros([1, 64, 64, 1], np.float32)
    maps[0, 20, 10, 0] = 1.0
    maps[0, 20, 11, 0] = 0.5
    maps[0, 21, 10, 0] = 0.5
    matrix = crop_matrix([100.0, 200.0], 1.0, INPUT_SIZE)[None]
    keypoints, scores = heatmaps_to_image_keypoints(maps, matrix, INPUT_SIZE)
    # Heatmap px u -> input px 4u + 1.5 -> original px (input - 127.5)*200/256 + c.
    expected = (4.0 * np.array([10.25, 20.25]) + 1.5 - 127.5) * 200 / 256 + [100, 200]
    np.testing.assert_allclose(keypoints.numpy()[0, 0], expected, atol=1e-3)
    assert scores.numpy()[0, 0] == pytest.approx(1.0)


def asymmetric_heatmap_model(images, training=False):
    """A deliberately left/right-asymmetric "network": 4x average pooling,
    channel k = mean colour times a per-joint horizontal ramp."""
    del training
    pooled = tf.nn.avg_pool2d(images, 4, 4, "VALID")
    intensity = tf.reduce_mean(pooled, axis=-1, keepdims=True)
    ramp = tf.linspace(0.0, 1.0, pooled.shape[2])[None, None, :, None]
    weights = tf.range(1.0, 17.0)[None, None, None, :]
    return [intensity * (1.0 + ramp * weights), intensity * ramp * weights]


def test_flip_test_averages_with_mirrored_and_swapped_heatmaps():
    images = tf.random.stateless_uniform([2, 32, 32, 3], seed=[1, 2])
    direct = asymmetric_heatmap_model(images)[-1].numpy()
    mirrored = asymmetric_heatmap_model(images[:, :, ::-1])[-1].numpy()
    order = list(range(16))
    for left, right in MPII_16.flip_pairs:
        order[left], order[right] = right, left
    expected = 0.5 * (direct + mirrored[:, :, ::-1][..., order])
    result = flip_test_heatmaps(asymmetric_heatmap_model, images, MPII_16.flip_pairs)
    np.testing.assert_allclose(result.numpy(), expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(result.numpy(), direct)
    stacks = flip_test_heatmaps(
        asymmetric_heatmap_model, images, MPII_16.flip_pairs, all_stacks=True
    )
    assert len(stacks) == 2
    np.testing.assert_allclose(stacks[-1].numpy(), result.numpy())


def test_flip_test_of_mirror_symmetric_images_and_model_changes_nothing():
    """Mirror-symmetric inputs through a swap-free joint set: flip test = plain."""
    half = tf.random.stateless_uniform([1, 32, 16, 3], seed=[3, 4])
    images = tf.concat([half, half[:, :, ::-1]], axis=2)

    def symmetric_model(x, training=False):
        mirrored = asymmetric_heatmap_model(x[:, :, ::-1])[0][:, :, ::-1]
        return asymmetric_heatmap_model(x)[0] + mirrored

    plain = symmetric_model(images)
    flipped = flip_test_heatmaps(symmetric_model, images, flip_pairs=())
    np.testing.assert_allclose(flipped.numpy(), plain.numpy(), rtol=1e-5)


def test_predict_keypoints_with_a_tiny_model_in_graph_and_eager():
    model = build_stacked_hourglass(
        n_stacks=2, n_features=16, depth=2, input_shape=(64, 64, 3)
    )
    images = tf.random.stateless_uniform([2, 64, 64, 3], seed=[5, 6])
    matrices = crop_matrix([[50.0, 60.0], [300.0, 200.0]], [1.0, 2.0], 64)
    eager = predict_keypoints(model, images, matrices, MPII_16.flip_pairs)
    graph = tf.function(
        lambda x, m: predict_keypoints(model, x, m, MPII_16.flip_pairs)
    )(images, matrices)
    np.testing.assert_allclose(eager[0].numpy(), graph[0].numpy(), atol=1e-4)
    assert eager[0].shape == (2, 16, 2) and eager[1].shape == (2, 16)
    plain = predict_keypoints(model, images, matrices, flip_test=False)
    decoded = heatmaps_to_image_keypoints(model(images)[-1], matrices, 64)
    np.testing.assert_allclose(plain[0].numpy(), decoded[0].numpy())
    with pytest.raises(ValueError, match="flip_pairs"):
        predict_keypoints(model, images, matrices, flip_pairs=None, flip_test=True)
