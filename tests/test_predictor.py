"""Tests for the one-call predictor `keras_hourglass.predict_poses`."""

import io

import numpy as np
import PIL.Image
import pytest

import keras_hourglass
from keras_hourglass.joint_sets import MPII_16
from keras_hourglass.predictor import PosePredictor
from keras_hourglass.predictor import inside_image
from keras_hourglass.predictor import load_predictor
from tests.serving_helpers import tiny_model


@pytest.fixture(scope="module")
def model():
    return tiny_model(n_stacks=1)


def png_bytes(array):
    buffer = io.BytesIO()
    PIL.Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def test_inside_uses_pixel_edges_at_half_pixels():
    points = np.array([[-0.5, 0.0], [-0.51, 0.0], [9.49, 4.49], [9.5, 0.0],
                       [0.0, 4.5], [3.0, 643.0]])  # fmt: skip
    np.testing.assert_array_equal(
        inside_image(points, height=5, width=10),
        [True, False, True, False, False, False],
    )


class FixedBackend:
    """A model answer chosen by the test: joint 0 at y = 643 px."""

    joint_set = MPII_16

    def predict(self, encoded_images, boxes):
        keypoints = np.full([len(boxes), 16, 2], 10.0, np.float32)
        keypoints[:, 0] = [100.0, 643.0]
        return keypoints, np.ones([len(boxes), 16], np.float32)


def test_a_keypoint_below_the_image_is_flagged():
    image = np.zeros([425, 300, 3], np.uint8)  # the reported 425 px photo
    poses = PosePredictor(FixedBackend())(image)
    assert poses.image_size == (425, 300)
    assert not poses.inside[0, 0] and poses.inside[0, 1:].all()


def test_paths_bytes_and_arrays_give_the_same_poses(model, tmp_path):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, [90, 140, 3], dtype=np.uint8)
    path = tmp_path / "photo.png"
    path.write_bytes(png_bytes(image))
    boxes = [[10, 5, 60, 80], [70, 0, 60, 90]]
    predictor = load_predictor(model, flip_test=False)
    results = [predictor(source, boxes=boxes) for source in
               (path, str(path), png_bytes(image), image)]  # fmt: skip
    for poses in results:
        assert poses.keypoints.shape == (2, 16, 2) and poses.scores.shape == (2, 16)
        np.testing.assert_allclose(poses.keypoints, results[0].keypoints, atol=1e-4)
        np.testing.assert_array_equal(
            poses.inside, inside_image(poses.keypoints, 90, 140)
        )
    # Two different boxes crop two different windows.
    assert not np.allclose(results[0].keypoints[0], results[0].keypoints[1])


def test_a_list_of_images_with_whole_image_and_boxed_people(model, tmp_path):
    model.save(tmp_path / "final.keras")
    images = [np.full([64, 48, 3], 80, np.uint8), np.full([50, 70, 3], 200, np.uint8)]
    poses = keras_hourglass.predict_poses(
        tmp_path, images, boxes=[None, [[0, 0, 30, 30], [20, 10, 40, 40]]],
        flip_test=False, batch_size=2,
    )  # fmt: skip
    assert [len(p) for p in poses] == [1, 2]
    assert [p.image_size for p in poses] == [(64, 48), (50, 70)]
    np.testing.assert_array_equal(poses[0].boxes, np.zeros([1, 4]))


def test_folder_without_model_names_the_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="final.keras"):
        load_predictor(tmp_path)
    with pytest.raises(FileNotFoundError, match="missing.keras"):
        load_predictor(tmp_path / "missing.keras")


def test_wrong_box_count_and_bad_array_are_clear_errors(model):
    predictor = load_predictor(model, flip_test=False)
    image = np.zeros([32, 32, 3], np.uint8)
    with pytest.raises(ValueError, match="2 box entries for 1 images"):
        predictor([image], boxes=[None, None])
    with pytest.raises(ValueError, match="uint8"):
        predictor(np.zeros([32, 32], np.float32))


class RecordingBackend(FixedBackend):
    """`FixedBackend` that keeps the boxes it was asked to crop."""

    def __init__(self):
        self.boxes = []

    def predict(self, encoded_images, boxes):
        self.boxes.append(np.asarray(boxes))
        return super().predict(encoded_images, boxes)


def test_boxes_from_a_detector_function(tmp_path):
    images = [np.full([64, 48, 3], 80, np.uint8), np.full([50, 70, 3], 200, np.uint8)]
    path = tmp_path / "photo.png"
    path.write_bytes(png_bytes(images[1]))
    seen = []

    def detector(image):
        seen.append(image.shape)
        if image.shape[0] == 64:
            return [[1, 2, 30, 40], [5, 6, 20, 25]]
        return np.zeros([0, 4])  # nobody in this image

    backend = RecordingBackend()
    poses = PosePredictor(backend)([images[0], path], boxes=detector)
    assert seen == [(64, 48, 3), (50, 70, 3)]  # each image, decoded, once
    assert [len(p) for p in poses] == [2, 0]
    np.testing.assert_array_equal(poses[0].boxes, [[1, 2, 30, 40], [5, 6, 20, 25]])
    np.testing.assert_array_equal(np.concatenate(backend.boxes), poses[0].boxes)
    assert poses[1].keypoints.shape == (0, 16, 2) and poses[1].scores.shape == (0, 16)
    single = PosePredictor(RecordingBackend())(images[0], boxes=detector)
    assert len(single) == 2


def test_predict_poses_takes_a_detector_function(model):
    image = np.random.default_rng(1).integers(0, 255, [90, 140, 3], dtype=np.uint8)
    boxes = [[10, 5, 60, 80], [70, 0, 60, 90]]
    expected = keras_hourglass.predict_poses(model, image, boxes=boxes, flip_test=False)
    found = keras_hourglass.predict_poses(
        model, image, boxes=lambda array: boxes, flip_test=False
    )
    np.testing.assert_allclose(found.keypoints, expected.keypoints, atol=1e-5)


def test_a_detector_box_that_is_not_finite_is_a_clear_error():
    with pytest.raises(ValueError, match="finite"):
        PosePredictor(FixedBackend())(
            np.zeros([32, 32, 3], np.uint8), boxes=lambda image: [[0, 0, np.nan, 4]]
        )
