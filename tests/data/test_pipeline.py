"""Tests for the tf.data pipeline and its per-person examples: targets,
element spec, fitting a model on it, graph."""

import numpy as np
import pytest
import tensorflow as tf

from keras_hourglass import build_stacked_hourglass
from keras_hourglass.data.decode import warp_image
from keras_hourglass.data.examples import AugmentationRanges
from keras_hourglass.data.examples import prepare_training_example
from keras_hourglass.data.examples import sample_augmentation
from keras_hourglass.data.pipeline import PipelineOptions
from keras_hourglass.data.pipeline import make_dataset
from keras_hourglass.data.pipeline import make_eval_dataset
from keras_hourglass.data.tfrecords import parse_person
from keras_hourglass.data.tfrecords import serialize_person
from keras_hourglass.losses import joint_heatmap_mse
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

AUGMENTATION = AugmentationRanges(
    scale_factor=0.25,
    rotation_degrees=30.0,
    rotation_probability=0.4,
    flip_probability=0.5,
    color_range=(0.6, 1.4),
)


def _check_targets_map_back(records, num_joints, flip_pairs, seeds):
    """Argmax of each drawn heatmap, mapped back to the original image, lies
    within one heatmap pixel of the joint that channel now represents."""
    order = np.array(flip_permutation(num_joints, flip_pairs))
    checked = 0
    for record in records:
        person = parse_person(record)
        joints = person["joints"].numpy()
        for seed in seeds:
            augmentation = sample_augmentation(tf.constant([seed, 7]), AUGMENTATION)
            out = prepare_training_example(
                person, augmentation, num_joints=num_joints,
                flip_pairs=flip_pairs, input_size=256, output_size=64, sigma=1.0,
            )  # fmt: skip
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
        num_outputs=1,
        augmentation=AugmentationRanges(color_range=(1.0, 1.0)),
        options=PipelineOptions(seed=5),
    )
    images, targets, weights = next(iter(dataset))
    channels = set()
    for image, maps, weight in zip(images.numpy(), targets.numpy(), weights.numpy()):
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
        num_outputs=2,
        input_size=64,
        output_size=16,
        options=PipelineOptions(seed=0),
    )
    images, targets, weights = dataset.element_spec
    assert images.shape == (2, 64, 64, 3) and images.dtype == tf.float32
    assert len(targets) == len(weights) == 2
    assert targets[1].shape == (2, 16, 16, num_joints)
    assert weights[0].shape == (2, num_joints)
    batches = list(dataset)
    assert len(batches) == 1  # training drops the incomplete batch
    image = batches[0][0].numpy()
    assert image.min() >= 0.0 and image.max() <= 1.0
    np.testing.assert_array_equal(batches[0][1][0], batches[0][1][1])


def test_fixed_seed_reproduces_augmentations(tmp_path):
    shard = _write_people(tmp_path, 16, count=4)
    build = lambda seed: make_dataset(  # noqa: E731
        shard,
        16,
        MPII_FLIP_PAIRS,
        training=True,
        batch_size=4,
        num_outputs=1,
        input_size=64,
        output_size=16,
        options=PipelineOptions(seed=seed, deterministic=True),
    )
    first, second, other = (next(iter(build(seed)))[1] for seed in (1, 1, 2))
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
        num_outputs=1,
        input_size=64,
        output_size=16,
    )
    python_ops = {"PyFunc", "PyFuncStateless", "EagerPyFunc"}
    assert "ImageProjectiveTransformV3" in _graph_ops(dataset)
    assert not python_ops & _graph_ops(dataset)
    with_python = dataset.map(lambda *x: tf.py_function(lambda: 1.0, [], tf.float32))
    assert python_ops & _graph_ops(with_python)


def test_training_takes_the_training_crop_and_evaluation_the_reference_one(
    tmp_path,
):
    shard = _write_people(tmp_path, 16)
    training = make_dataset(
        shard, 16, MPII_FLIP_PAIRS, training=True, batch_size=2, num_outputs=1,
        input_size=64, output_size=16,
    )  # fmt: skip
    evaluation = make_eval_dataset(shard, 16, batch_size=2, input_size=64)
    # The whole-pixel resize of unrotated crops is the training crop's only.
    assert "ResizeBilinear" in _graph_ops(training)
    assert "ResizeBilinear" not in _graph_ops(evaluation)
    assert "ImageProjectiveTransformV3" in _graph_ops(evaluation)


def test_a_stacked_hourglass_fits_directly_on_the_dataset(tmp_path):
    shard = _write_people(tmp_path, 16, count=4)
    model = build_stacked_hourglass(
        n_stacks=2, n_joints=16, n_features=16, n_modules=1, depth=1,
        input_shape=(64, 64, 3),
    )  # fmt: skip
    model.compile(optimizer="rmsprop", loss=joint_heatmap_mse)
    dataset = make_dataset(
        shard, 16, MPII_FLIP_PAIRS, training=True, batch_size=2,
        num_outputs=len(model.outputs), input_size=64, output_size=16,
        options=PipelineOptions(repeat=True, seed=0),
    )  # fmt: skip
    history = model.fit(dataset, steps_per_epoch=2, epochs=1, shuffle=False, verbose=0)
    losses = history.history
    assert set(losses) == {"loss", "stack1_heatmaps_loss", "stack2_heatmaps_loss"}
    assert all(np.isfinite(values[-1]) for values in losses.values())
    stacks = losses["stack1_heatmaps_loss"][-1] + losses["stack2_heatmaps_loss"][-1]
    assert losses["loss"][-1] == pytest.approx(stacks, rel=1e-4)
