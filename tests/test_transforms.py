"""Tests for keras_hourglass.transforms."""

import json

import numpy as np
import pytest
import tensorflow as tf

from keras_hourglass.transforms import CROP_CONVENTION_KEY
from keras_hourglass.transforms import OFFICIAL_TORCH
from keras_hourglass.transforms import PYTORCH_PORT
from keras_hourglass.transforms import box_from_person
from keras_hourglass.transforms import crop_box_from_person
from keras_hourglass.transforms import crop_convention_from_metadata
from keras_hourglass.transforms import crop_matrix
from keras_hourglass.transforms import flip_permutation
from keras_hourglass.transforms import invert_affine
from keras_hourglass.transforms import person_center_for_crop
from keras_hourglass.transforms import person_crop_matrix
from keras_hourglass.transforms import person_from_box
from keras_hourglass.transforms import scale_grid_matrix
from keras_hourglass.transforms import swap_left_right
from keras_hourglass.transforms import transform_points

MPII_FLIP_PAIRS = [(0, 5), (1, 4), (2, 3), (10, 15), (11, 14), (12, 13)]


def test_crop_box_matches_pose_hg_train_values(shared_data):
    annotations = json.loads(
        (shared_data / "mpii_samples/annotations.json").read_text()
    )
    people = [p for p in annotations["people"] if p.get("hg_center") is not None]
    assert len(people) == 2
    for person in people:
        center, scale = crop_box_from_person(
            person["mpii_objpos"], person["mpii_scale"]
        )
        # valid.h5 stores already-adjusted values computed from unrounded MPII
        # numbers, hence agreement to a few thousandths rather than exactly.
        np.testing.assert_allclose(center.numpy(), person["hg_center"], atol=0.01)
        np.testing.assert_allclose(scale.numpy(), person["hg_scale"], rtol=2e-4)


def test_window_edges_map_to_grid_edges():
    center, scale, size = (300.0, 200.0), 1.5, 64
    matrix = crop_matrix(center, scale, size)
    corners = np.array([[300 - 150, 200 - 150], [300 + 150, 200 + 150]], np.float32)
    mapped = transform_points(corners, matrix).numpy()
    np.testing.assert_allclose(mapped, [[-0.5, -0.5], [63.5, 63.5]], atol=1e-4)


def test_unrotated_matrix_follows_documented_formula():
    rng = np.random.default_rng(0)
    points = rng.uniform(-100, 900, size=(20, 2))
    cx, cy, s, res = 412.0, 300.0, 2.3, 256
    mapped = transform_points(points, crop_matrix((cx, cy), s, res)).numpy()
    expected_u = (points[:, 0] - cx + 100 * s) * res / (200 * s) - 0.5
    expected_v = (points[:, 1] - cy + 100 * s) * res / (200 * s) - 0.5
    np.testing.assert_allclose(mapped, np.stack([expected_u, expected_v], 1), atol=1e-3)


def test_rotation_turns_content_counter_clockwise_about_the_crop_centre():
    center, size = (100.0, 100.0), 64
    matrix = crop_matrix(center, 1.0, size, rotation_degrees=90.0)
    points = np.array([[100.0, 100.0], [150.0, 100.0]])
    mapped = transform_points(points, matrix).numpy()
    grid_center = size / 2 - 0.5
    np.testing.assert_allclose(mapped[0], [grid_center, grid_center], atol=1e-4)
    # A point right of the centre ends up above it (y points down).
    np.testing.assert_allclose(mapped[1], [grid_center, grid_center - 16.0], atol=1e-4)


def test_flip_mirrors_the_output_and_twice_is_identity():
    points = np.array([[120.0, 80.0], [95.5, 130.25]])
    plain = transform_points(points, crop_matrix((100, 100), 0.8, 64, 20.0)).numpy()
    flipped = transform_points(points, crop_matrix((100, 100), 0.8, 64, 20.0, True))
    np.testing.assert_allclose(flipped[:, 0], 63 - plain[:, 0], atol=1e-4)
    np.testing.assert_allclose(flipped[:, 1], plain[:, 1], atol=1e-4)
    mirror = crop_matrix((100, 100), 0.8, 64, 0.0, True) @ invert_affine(
        crop_matrix((100, 100), 0.8, 64)
    )
    np.testing.assert_allclose((mirror @ mirror).numpy(), np.eye(3), atol=1e-5)


def test_input_and_heatmap_grids_agree_under_augmentation():
    args = ((250.0, 180.0), 1.7)
    for rotation, flip in [(0.0, False), (-37.0, True), (52.0, False)]:
        small = crop_matrix(*args, 64, rotation, flip)
        large = crop_matrix(*args, 256, rotation, flip)
        via_input = tf.linalg.matmul(scale_grid_matrix(256, 64), large)
        np.testing.assert_allclose(via_input.numpy(), small.numpy(), atol=1e-4)


def test_batched_matrices_points_and_inverse():
    rng = np.random.default_rng(1)
    centers = rng.uniform(100, 500, size=(5, 2))
    scales = rng.uniform(0.5, 3.0, size=5)
    rotations = rng.uniform(-60, 60, size=5)
    flips = np.array([True, False, True, False, False])
    matrices = crop_matrix(centers, scales, 256, rotations, flips)
    assert matrices.shape == (5, 3, 3) and matrices.dtype == tf.float32
    np.testing.assert_allclose(
        invert_affine(matrices).numpy(),
        np.linalg.inv(matrices.numpy()),
        rtol=1e-4,
        atol=1e-3,
    )
    points = rng.uniform(0, 600, size=(5, 16, 2))
    there = transform_points(points, matrices)
    back = transform_points(there, invert_affine(matrices))
    assert there.shape == (5, 16, 2)
    np.testing.assert_allclose(back.numpy(), points, atol=1e-2)


def test_functions_trace_in_graph_mode():
    @tf.function(input_signature=[tf.TensorSpec([None, 2]), tf.TensorSpec([None])])
    def matrices(center, scale):
        crop_center, crop_scale = crop_box_from_person(center, scale)
        return invert_affine(crop_matrix(crop_center, crop_scale, 256))

    result = matrices(tf.constant([[10.0, 20.0]]), tf.constant([1.0]))
    expected = np.linalg.inv(crop_matrix([[10.0, 35.0]], [1.25], 256).numpy())
    np.testing.assert_allclose(result.numpy(), expected, rtol=1e-5, atol=1e-4)


def test_swap_left_right_swaps_pairs_and_twice_is_identity():
    joints = np.arange(16 * 2).reshape(16, 2)
    swapped = swap_left_right(joints, MPII_FLIP_PAIRS, axis=0).numpy()
    np.testing.assert_array_equal(swapped[0], joints[5])
    np.testing.assert_array_equal(swapped[15], joints[10])
    np.testing.assert_array_equal(swapped[7], joints[7])
    again = swap_left_right(swapped, MPII_FLIP_PAIRS, axis=0).numpy()
    np.testing.assert_array_equal(again, joints)
    maps = np.random.default_rng(2).normal(size=(2, 4, 4, 16))
    channels = swap_left_right(maps, MPII_FLIP_PAIRS, axis=-1).numpy()
    np.testing.assert_array_equal(channels[..., 12], maps[..., 13])


def test_flip_permutation_rejects_pairs_outside_the_joint_range():
    assert flip_permutation(4, [(0, 3)]) == [3, 1, 2, 0]
    with pytest.raises(ValueError, match="outside"):
        flip_permutation(14, [(0, 15)])


def test_box_and_person_round_trip_with_edges_at_integers():
    center, scale = np.array([[120.0, 80.0], [10.5, 300.25]]), np.array([1.2, 0.4])
    box = box_from_person(center, scale)
    # Pixel centre 120 spans [119.5, 120.5]: the 240 px box starts at 0.5.
    np.testing.assert_allclose(box[0], [0.5, -39.5, 240.0, 240.0], atol=1e-4)
    back_center, back_scale = person_from_box(box)
    np.testing.assert_allclose(back_center, center, atol=1e-4)
    np.testing.assert_allclose(back_scale, scale, rtol=1e-6)
    graph_center, graph_scale = person_from_box(tf.constant(box))
    assert graph_center.dtype == graph_scale.dtype == tf.float32
    np.testing.assert_allclose(graph_center.numpy(), center, atol=1e-4)
    np.testing.assert_allclose(graph_scale.numpy(), scale, rtol=1e-6)


def test_boxes_use_the_larger_side_and_the_margin():
    # Pixels 10..110 and 20..60 (centres at integers) span edges 9.5..110.5.
    center, scale = person_from_box((10.5, 20.5, 100.0, 40.0), margin=1.5)
    np.testing.assert_array_equal(center, (60.0, 40.0))
    assert scale == 100.0 * 1.5 / 200.0


def test_person_centre_for_a_crop_inverts_the_crop_shift():
    center = person_center_for_crop(np.array([50.0, 60.0]), 2.0)
    crop_center, crop_scale = crop_box_from_person(center, 2.0)
    np.testing.assert_allclose(crop_center.numpy(), [50.0, 60.0])
    assert float(crop_scale) == 2.5


def test_person_crop_matrix_is_the_crop_box_then_crop_matrix():
    center, scale = np.array([140.0, 90.0]), 1.3
    expected = crop_matrix(*crop_box_from_person(center, scale), 64, 20.0, True)
    matrix = person_crop_matrix(center, scale, 64, 1.0, 20.0, True)
    np.testing.assert_allclose(matrix.numpy(), expected.numpy(), atol=1e-5)
    zoomed = person_crop_matrix(center, scale, 64, scale_multiplier=2.0)
    # Augmentation zooms the window about the same (shifted) crop centre.
    crop_center, crop_scale = crop_box_from_person(center, scale)
    wider = crop_matrix(crop_center, 2.0 * crop_scale, 64)
    np.testing.assert_allclose(zoomed.numpy(), wider.numpy(), atol=1e-5)


def test_the_default_crop_convention_is_pose_hg_train():
    center, scale = np.array([140.0, 90.0]), 1.3
    default = person_crop_matrix(center, scale, 64, 1.5, 10.0, True)
    explicit = person_crop_matrix(
        center, scale, 64, 1.5, 10.0, True, convention=OFFICIAL_TORCH
    )
    np.testing.assert_array_equal(default.numpy(), explicit.numpy())
    assert (OFFICIAL_TORCH.center_shift_y, OFFICIAL_TORCH.scale_factor) == (15, 1.25)


def test_the_port_convention_crops_the_plain_window():
    crop_center, crop_scale = crop_box_from_person([140.0, 90.0], 1.3, PYTORCH_PORT)
    np.testing.assert_allclose(crop_center.numpy(), [140.0, 90.0])
    np.testing.assert_allclose(float(crop_scale), 1.3, rtol=1e-6)
    matrix = person_crop_matrix([140.0, 90.0], 1.3, 64, convention=PYTORCH_PORT)
    expected = crop_matrix([140.0, 90.0], 1.3, 64)
    np.testing.assert_allclose(matrix.numpy(), expected.numpy(), atol=1e-5)


def test_crop_conventions_round_trip_through_metadata():
    for convention in (OFFICIAL_TORCH, PYTORCH_PORT):
        stored = json.loads(json.dumps({CROP_CONVENTION_KEY: convention.to_metadata()}))
        assert crop_convention_from_metadata(stored) == convention
    # Models without the entry (every model trained here) keep our crop.
    assert crop_convention_from_metadata({"joint_names": []}) is OFFICIAL_TORCH


@pytest.mark.parametrize(
    "entry",
    [
        {"name": "x", "center_shift_y": 0.0},
        {"name": "x", "center_shift_y": "down", "scale_factor": 1.0},
        {"name": "x", "center_shift_y": 0.0, "scale_factor": 0.0},
        [0.0, 1.0],
    ],
)
def test_a_malformed_crop_convention_names_its_file(entry):
    with pytest.raises(ValueError, match="model.json: crop_convention"):
        crop_convention_from_metadata({CROP_CONVENTION_KEY: entry}, "model.json")
