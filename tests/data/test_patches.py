"""Tests for keras_hourglass.data.patches: bounded-resolution person patches."""

import numpy as np
import pytest
import tensorflow as tf

from keras_hourglass.data.examples import crop_reference_image
from keras_hourglass.data.examples import encode_targets
from keras_hourglass.data.patches import bounded_person_patch
from keras_hourglass.data.patches import to_patch_px
from keras_hourglass.data.tfrecords import parse_person
from keras_hourglass.data.tfrecords import serialize_person
from keras_hourglass.transforms import person_crop_matrix
from keras_hourglass.transforms import transform_points
from tests.pipeline_helpers import MPII_FLIP_PAIRS

DOT = (700, 330)


def large_person(height=720, width=1280):
    """A person (scale 3: a 750 px crop window) on a smooth random JPEG with a
    white 9 x 9 square at DOT, which is also joint 0."""
    rng = np.random.default_rng(0)
    coarse = rng.uniform(20, 150, size=(height // 40, width // 40, 3))
    image = tf.image.resize(coarse, (height, width), method="bicubic").numpy()
    image[DOT[1] - 4 : DOT[1] + 5, DOT[0] - 4 : DOT[0] + 5] = 255
    joints = rng.uniform([500, 200], [800, 600], size=(16, 2))
    joints[0] = DOT
    return {
        "image_bytes": tf.io.encode_jpeg(
            np.clip(image, 0, 255).astype(np.uint8)
        ).numpy(),
        "image_format": "jpeg",
        "height": height,
        "width": width,
        "image_id": "large",
        "joints": joints,
        "annotated": np.ones(16),
        "visible": np.ones(16),
        "center": [650.0, 330.0],
        "scale": 3.0,
        "head_box": [600.0, 100.0, 680.0, 190.0],
        "normalizer": 72.0,
    }


def test_patch_is_smaller_and_keeps_the_dot_at_its_mapped_joint():
    person = large_person()
    patch = bounded_person_patch(person, input_size=256)
    assert patch["width"] * patch["height"] < 0.4 * 1280 * 720
    image = tf.io.decode_jpeg(patch["image_bytes"]).numpy()
    assert image.shape == (patch["height"], patch["width"], 3)
    ys, xs = np.nonzero(image[..., 2] > 230)
    np.testing.assert_allclose([xs.mean(), ys.mean()], patch["joints"][0], atol=0.5)
    factor = patch["scale"] / person["scale"]
    assert patch["normalizer"] == pytest.approx(72.0 * factor)
    np.testing.assert_allclose(
        patch["center"], to_patch_px(person["center"], *_origin(person, patch), factor)
    )


def _origin(person, patch):
    """The patch's top-left corner in original px, from a mapped joint."""
    factor = patch["scale"] / person["scale"]
    joint = np.asarray(person["joints"][0], np.float64)
    return tuple(joint + 0.5 - (np.asarray(patch["joints"][0]) + 0.5) / factor)


@pytest.mark.parametrize(
    "multiplier, rotation, flip",
    [
        (1.0, 0.0, False),
        (2**-0.5, 0.0, True),
        (2**0.5, 60.0, False),
        (2**0.5, -45.0, True),
    ],
)
def test_crops_and_targets_from_patch_match_the_original(multiplier, rotation, flip):
    """Up to the extremes of the default augmentation, a crop of the patch
    shows what the crop of the original shows, and the targets agree."""
    original = parse_person(serialize_person(**large_person()))
    patched = parse_person(serialize_person(**bounded_person_patch(large_person())))
    crops, joints_out = [], []
    for person in (original, patched):
        matrix = person_crop_matrix(
            person["center"], person["scale"], 256, multiplier, rotation, flip
        )
        crops.append(crop_reference_image(person, matrix, 256).numpy())
        heatmap_matrix = encode_targets(
            person, matrix, tf.constant(flip), 16, MPII_FLIP_PAIRS, 256, 64, 1.0
        )[2]
        joints = tf.reshape(person["joints"], [16, 2])
        joints_out.append(transform_points(joints, heatmap_matrix).numpy())
    # Within 3 grey levels of 255 on average (resampling and a JPEG re-encode).
    assert np.abs(crops[0] - crops[1]).mean() < 3.0 / 255.0
    np.testing.assert_allclose(joints_out[1], joints_out[0], atol=0.02)
