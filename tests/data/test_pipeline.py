"""Tests for the tf.data pipeline: geometry, targets, element spec, graph."""

import numpy as np
import pytest
import tensorflow as tf

from keras_hourglass.data.augment import decode_image_region
from keras_hourglass.data.augment import warp_image
from keras_hourglass.data.person_steps import prepare_training_example
from keras_hourglass.data.pipeline import make_dataset
from keras_hourglass.data.pipeline import make_eval_dataset
from keras_hourglass.data.skips import SkipCounter
from keras_hourglass.data.tfrecords import parse_person
from keras_hourglass.data.tfrecords import serialize_person
from keras_hourglass.transforms import crop_box_from_person
from keras_hourglass.transforms import crop_matrix
from keras_hourglass.transforms import flip_permutation
from keras_hourglass.transforms import invert_affine
from keras_hourglass.transforms import transform_points
from tests.pipeline_helpers import LSP_FLIP_PAIRS
from tests.pipeline_helpers import MPII_FLIP_PAIRS
from tests.pipeline_helpers import real_mpii_records
from tests.pipeline_helpers import synthetic_person
from tests.pipeline_helpers import write_shard

AUGMENTATION = {
    "scale_factor": 0.25,
    "rotation_degrees": 30.0,
    "rotation_probability": 0.4,
    "flip_probability": 0.5,
    "color_range": (0.6, 1.4),
}


def test_warp_uses_pixel_centres_at_integers():
    image = np.zeros((9, 9, 1), np.float32)
    image[3, 5] = 1.0
    identity = warp_image(image, np.eye(3, dtype=np.float32), 9).numpy()
    np.testing.assert_array_equal(identity, image)
    half_right = np.array([[1, 0, 0.5], [0, 1, 0], [0, 0, 1]], np.float32)
    shifted = warp_image(image, half_right, 9).numpy()[3, :, 0]
    np.testing.assert_allclose(shifted, [0, 0, 0, 0, 0, 0.5, 0.5, 0, 0])


@pytest.mark.parametrize("rotation, flip", [(0.0, False), (35.0, True), (-50.0, False)])
def test_warped_dot_lands_where_the_matrix_says(rotation, flip):
    for dot in [(72, 58), (90, 72), (75, 75)]:
        image = np.zeros((120, 160, 3), np.uint8)
        image[dot[1], dot[0]] = 255
        matrix = crop_matrix((80.0, 65.0), 0.25, 64, rotation, flip)
        warped = warp_image(image, matrix, 64).numpy()[..., 0]
        expected = transform_points(np.array([dot], np.float32), matrix).numpy()[0]
        ys, xs = np.mgrid[0:64, 0:64]
        centroid = [
            (xs * warped).sum() / warped.sum(),
            (ys * warped).sum() / warped.sum(),
        ]
        assert warped.max() > 0.2
        np.testing.assert_allclose(centroid, expected, atol=1.0)


def test_jpeg_region_decode_matches_full_decode():
    rng = np.random.default_rng(3)
    coarse = rng.uniform(0, 255, size=(10, 15, 3)).astype(np.uint8)
    image = tf.cast(tf.image.resize(coarse, (200, 300)), tf.uint8)
    encoded = tf.io.encode_jpeg(image, quality=95)
    matrix = crop_matrix((210.0, 80.0), 0.6, 64, 25.0, True)
    region, region_matrix, shape = decode_image_region(encoded, matrix, 64)
    assert region.shape[0] < 200 and region.shape[1] < 300
    np.testing.assert_array_equal(shape.numpy(), [200, 300])
    full = warp_image(tf.io.decode_jpeg(encoded), matrix, 64)
    cropped = warp_image(region, region_matrix, 64)
    assert np.abs(full - cropped).mean() < 1.5 / 255


def _check_targets_map_back(records, num_joints, flip_pairs, seeds):
    """Argmax of each drawn heatmap, mapped back to the original image, lies
    within one heatmap pixel of the joint that channel now represents."""
    config = {
        "num_joints": num_joints,
        "flip_pairs": flip_pairs,
        "input_size": 256,
        "output_size": 64,
        "sigma": 1.0,
        "augmentation": AUGMENTATION,
    }
    order = np.array(flip_permutation(num_joints, flip_pairs))
    checked = 0
    for record in records:
        person = parse_person(record)
        joints = person["joints"].numpy()
        for seed in seeds:
            out = prepare_training_example(
                person, tf.constant([seed, 7]), config, SkipCounter()
            )
            matrix = out["heatmap_matrix"].numpy()
            mirrored = np.linalg.det(matrix[:2, :2]) < 0
            source = joints[order] if mirrored else joints
            pixel = 1.0 / np.sqrt(abs(np.linalg.det(matrix[:2, :2])))
            maps = out["heatmaps"].numpy()
            for channel in np.flatnonzero(maps.max(axis=(0, 1)) > 0):
                y, x = np.unravel_index(maps[..., channel].argmax(), maps.shape[:2])
                back = transform_points([[x, y]], invert_affine(matrix)).numpy()[0]
                assert np.linalg.norm(back - source[channel]) <= pixel
                checked += 1
    assert checked > 0


def test_real_mpii_targets_map_back_to_the_joints(shared_data):
    _check_targets_map_back(
        real_mpii_records(shared_data), 16, MPII_FLIP_PAIRS, seeds=range(4)
    )


def test_synthetic_lsp_targets_map_back_to_the_joints():
    records = [serialize_person(**synthetic_person(14, "a", annotated=[1] * 13 + [0]))]
    _check_targets_map_back(records, 14, LSP_FLIP_PAIRS, seeds=range(12))


def test_image_dot_and_heatmap_peak_stay_together_through_augmentation(tmp_path):
    annotated = np.zeros(16)
    annotated[10] = 1
    joints = np.zeros((16, 2))
    joints[10] = (85, 62)
    person = synthetic_person(
        16, "dot", annotated=annotated, joints=joints, dots=[(85, 62)]
    )
    shard = write_shard(tmp_path / "dot.tfrecord", [serialize_person(**person)] * 12)
    dataset = make_dataset(
        shard,
        16,
        MPII_FLIP_PAIRS,
        training=True,
        batch_size=12,
        output_names=["out"],
        seed=5,
        color_range=(1.0, 1.0),
    )
    images, targets, weights = next(iter(dataset))
    channels = set()
    for image, maps, weight in zip(
        images.numpy(), targets["out"].numpy(), weights["out"].numpy()
    ):
        channel = int(np.flatnonzero(weight)[0])
        channels.add(channel)
        y, x = np.unravel_index(image[..., 0].argmax(), image.shape[:2])
        dot_in_heatmap = (np.array([x, y]) + 0.5) / 4 - 0.5
        peak = np.unravel_index(maps[..., channel].argmax(), maps.shape[:2])
        assert np.linalg.norm(dot_in_heatmap - peak[::-1]) <= 1.0
    # The right wrist channel (10) becomes the left wrist (15) when flipped.
    assert channels == {10, 15}


def _write_people(tmp_path, num_joints, count=3):
    records = [
        serialize_person(**synthetic_person(num_joints, f"img{index}"))
        for index in range(count)
    ]
    return write_shard(tmp_path / f"k{num_joints}.tfrecord", records)


@pytest.mark.parametrize(
    "num_joints, pairs", [(14, LSP_FLIP_PAIRS), (16, MPII_FLIP_PAIRS)]
)
def test_element_spec_for_two_outputs(tmp_path, num_joints, pairs):
    shard = _write_people(tmp_path, num_joints)
    dataset = make_dataset(
        shard,
        num_joints,
        pairs,
        training=True,
        batch_size=2,
        output_names=["stack_1", "stack_2"],
        input_size=64,
        output_size=16,
        seed=0,
    )
    images, targets, weights = dataset.element_spec
    assert images.shape == (2, 64, 64, 3) and images.dtype == tf.float32
    assert set(targets) == set(weights) == {"stack_1", "stack_2"}
    assert targets["stack_2"].shape == (2, 16, 16, num_joints)
    assert weights["stack_1"].shape == (2, num_joints)
    batches = list(dataset)
    assert len(batches) == 1  # training drops the incomplete batch
    image = batches[0][0].numpy()
    assert image.min() >= 0.0 and image.max() <= 1.0
    np.testing.assert_array_equal(batches[0][1]["stack_1"], batches[0][1]["stack_2"])


def test_fixed_seed_reproduces_augmentations(tmp_path):
    shard = _write_people(tmp_path, 16, count=4)
    build = lambda seed: make_dataset(  # noqa: E731
        shard,
        16,
        MPII_FLIP_PAIRS,
        training=True,
        batch_size=4,
        output_names=["o"],
        input_size=64,
        output_size=16,
        seed=seed,
        deterministic=True,
    )
    first, second, other = (next(iter(build(seed)))[1]["o"] for seed in (1, 1, 2))
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, other)


def test_eval_dataset_meta_and_order(shared_data, tmp_path):
    shard = write_shard(tmp_path / "mpii.tfrecord", real_mpii_records(shared_data))
    images, meta = next(iter(make_eval_dataset(shard, 16, batch_size=4)))
    assert images.shape == (4, 256, 256, 3)
    ids = [name.decode() for name in meta["image_id"].numpy()]
    assert ids == ["052475643.jpg", "060754485.jpg", "015601864.jpg", "015601864.jpg"]
    np.testing.assert_array_equal(meta["person_index"], [0, 1, 2, 3])
    expected = crop_matrix(*crop_box_from_person(meta["center"], meta["scale"]), 256)
    np.testing.assert_allclose(meta["crop_matrix"], expected, rtol=1e-6)
    assert meta["joints"].shape == (4, 16, 2) and meta["joints_visible"].shape == (
        4,
        16,
    )
    image = tf.io.decode_jpeg(
        tf.io.read_file(str(shared_data / "mpii_samples/052475643.jpg"))
    )
    reference = warp_image(image, expected[0], 256)
    assert np.abs(reference - images[0]).mean() < 1.0 / 255


def _graph_ops(dataset):
    graph = tf.compat.v1.GraphDef.FromString(dataset._as_serialized_graph().numpy())
    ops = {node.op for node in graph.node}
    for function in graph.library.function:
        ops.update(node.op for node in function.node_def)
    return ops


def test_pipeline_graph_has_no_python_functions(tmp_path):
    shard = _write_people(tmp_path, 16)
    dataset = make_dataset(
        shard,
        16,
        MPII_FLIP_PAIRS,
        training=True,
        batch_size=2,
        output_names=["o"],
        input_size=64,
        output_size=16,
    )
    python_ops = {"PyFunc", "PyFuncStateless", "EagerPyFunc"}
    assert "ImageProjectiveTransformV3" in _graph_ops(dataset)
    assert not python_ops & _graph_ops(dataset)
    with_python = dataset.map(lambda *x: tf.py_function(lambda: 1.0, [], tf.float32))
    assert python_ops & _graph_ops(with_python)
