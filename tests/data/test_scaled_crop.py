"""The scaled crop (DCT-scaled JPEG decode, a whole-pixel resize for
unrotated crops, colour in the same pass) against the reference crop."""

import numpy as np
import pytest
import tensorflow as tf

from keras_hourglass.data.decode import dct_scale_exponent
from keras_hourglass.data.decode import decode_image_region
from keras_hourglass.data.decode import resize_axis_aligned
from keras_hourglass.data.decode import warp_and_scale_colours
from keras_hourglass.data.decode import warp_image
from keras_hourglass.transforms import crop_matrix
from keras_hourglass.transforms import transform_points

GAINS = np.array([1.3, 0.7, 1.0], np.float32)


def smooth_jpeg_with_dots(dots, height=600, width=800):
    """A smooth random photo-like JPEG with a bright 9 x 9 square at each dot."""
    rng = np.random.default_rng(0)
    coarse = rng.uniform(20, 150, size=(height // 40, width // 40, 3))
    image = tf.image.resize(coarse, (height, width), method="bicubic").numpy()
    for x, y in dots:
        image[y - 4 : y + 5, x - 4 : x + 5] = 255
    image = np.clip(image, 0, 255).astype(np.uint8)
    return tf.io.encode_jpeg(image, quality=95)


def reference_crop(encoded, matrix, size):
    region, region_matrix, _ = decode_image_region(encoded, matrix, size)
    crop = warp_image(region, region_matrix, size).numpy()
    return np.clip(crop * GAINS, 0.0, 1.0)


def scaled_crop(encoded, matrix, size):
    """Returns the scaled crop and the original px -> crop px matrix it has."""
    region, region_matrix, _ = decode_image_region(encoded, matrix, size, True)
    crop, applied = warp_and_scale_colours(region, region_matrix, size, GAINS)
    correction = applied.numpy() @ np.linalg.inv(region_matrix.numpy())
    return crop.numpy(), (correction @ matrix.numpy()).astype(np.float32)


def bright_centroid(crop):
    """Centroid (x, y) of the pixels brighter than 0.9 in the last channel
    (gain 1.0), which only the white squares reach."""
    ys, xs = np.nonzero(crop[..., 2] > 0.9)
    return np.array([xs.mean(), ys.mean()])


def test_dct_scale_is_the_largest_power_of_two_not_above_the_zoom_out():
    for scale, expected in [
        (0.2, 0),
        (0.5, 0),
        (0.7, 1),
        (1.5, 2),
        (3.0, 3),
        (30.0, 3),
    ]:
        # A window of 200 * scale px onto 64 px: 200 * scale / 64 px per px.
        matrix = crop_matrix((400.0, 300.0), scale, 64, 33.0, True)
        zoom_out = 200.0 * scale / 64.0
        assert 2 ** int(dct_scale_exponent(matrix)) <= max(zoom_out, 1.0)
        assert int(dct_scale_exponent(matrix)) == expected


@pytest.mark.parametrize(
    "scale, rotation, flip",
    [(2.2, 0.0, False), (2.2, 0.0, True), (3.0, 27.0, True), (1.0, 0.0, False)],
)
def test_scaled_crop_matches_reference_and_keeps_points_in_place(scale, rotation, flip):
    dot = (430, 280)
    encoded = smooth_jpeg_with_dots([dot])
    matrix = crop_matrix((400.0, 300.0), scale, 128, rotation, flip)
    scaled, applied = scaled_crop(encoded, matrix, 128)
    # The reference crop with the matrix the scaled crop applied.
    reference = reference_crop(encoded, applied, 128)
    assert scaled.shape == reference.shape == (128, 128, 3)
    assert scaled.min() >= 0.0 and scaled.max() <= 1.0
    # Under 3 grey levels of 255 on average, on a smooth image.
    assert np.abs(scaled - reference).mean() < 3.0 / 255.0
    expected = transform_points(np.array([dot], np.float32), applied).numpy()[0]
    pixel = 1.0  # output px; the square is 9 / (200 * scale / 128) px wide
    np.testing.assert_allclose(bright_centroid(reference), expected, atol=pixel)
    np.testing.assert_allclose(bright_centroid(scaled), expected, atol=pixel)
    # The applied crop is the asked one moved by under a source px.
    asked = transform_points(np.array([dot], np.float32), matrix).numpy()[0]
    np.testing.assert_allclose(expected, asked, atol=128 / (200 * scale))
    if rotation:
        np.testing.assert_allclose(applied, matrix.numpy(), atol=1e-3)


def test_scaled_crop_fills_zeros_outside_the_image():
    encoded = smooth_jpeg_with_dots([])
    # The window's left half lies left of the image.
    matrix = crop_matrix((0.0, 300.0), 2.0, 64)
    scaled, applied = scaled_crop(encoded, matrix, 64)
    reference = reference_crop(encoded, applied, 64)
    assert np.all(scaled[:, :30] == 0.0)
    assert np.abs(scaled - reference).mean() < 3.0 / 255.0


@pytest.mark.parametrize("seed", range(6))
def test_whole_pixel_resize_is_exactly_the_warp_of_its_applied_matrix(seed):
    rng = np.random.default_rng(seed)
    image = rng.uniform(0, 255, (90, 120, 3)).astype(np.float32)
    center = rng.uniform([10, 10], [110, 80])
    scale = rng.uniform(0.15, 0.6)  # 30-120 image px onto 48 output px
    matrix = crop_matrix(center, scale, 48, 0.0, bool(seed % 2))
    resized, applied = resize_axis_aligned(tf.constant(image), matrix, 48)
    warped = warp_image(tf.constant(image), applied, 48).numpy()
    # Equal inside; the outermost ring of an enlarged crop repeats its edge.
    inside = (slice(1, -1), slice(1, -1))
    np.testing.assert_allclose(resized.numpy()[inside], warped[inside], atol=1e-2)
    # The applied window is the asked one moved by under one image px.
    corners = np.array([[-0.5, -0.5], [47.5, 47.5]], np.float32)
    asked = transform_points(corners, np.linalg.inv(matrix.numpy())).numpy()
    found = transform_points(corners, np.linalg.inv(applied.numpy())).numpy()
    assert np.abs(asked - found).max() <= 0.75 + 1e-4


def test_whole_pixel_resize_of_a_window_outside_the_image_is_black():
    image = tf.fill([20, 30, 3], 200.0)
    matrix = crop_matrix((100.0, -50.0), 0.1, 16)
    resized, _ = resize_axis_aligned(image, matrix, 16)
    assert resized.shape == (16, 16, 3)
    assert float(tf.reduce_max(resized)) == 0.0


def test_png_takes_the_full_decode():
    image = np.full((50, 60, 3), 100, np.uint8)
    encoded = tf.io.encode_png(image)
    matrix = crop_matrix((30.0, 25.0), 0.6, 32)
    scaled, _ = scaled_crop(encoded, matrix, 32)
    np.testing.assert_allclose(scaled[11:21, 10:22, 2], 100 / 255, atol=1e-5)
