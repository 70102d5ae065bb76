"""Tests for keras_hourglass.data.decode: warping crops, region decoding."""

import numpy as np
import pytest
import tensorflow as tf

from keras_hourglass.data.decode import decode_image_region
from keras_hourglass.data.decode import warp_image
from keras_hourglass.transforms import crop_matrix
from keras_hourglass.transforms import transform_points


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
