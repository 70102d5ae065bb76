"""Limits of the `serving_default` signature: image size read from the header
before decoding, tiny images, absurd boxes and corrupt JPEG bodies are
rejected with InvalidArgument naming the input."""

import io
import struct
import zlib

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_hourglass.data.image_checks import find_stray_jpeg_marker
from keras_hourglass.data.image_checks import jpeg_scan_is_clean
from keras_hourglass.serving.inputs import MAX_IMAGE_PIXELS
from keras_hourglass.serving.inputs import header_image_size
from tests.data.test_formats_bad_input import corrupt_jpeg_body

WHOLE_IMAGE = [0.0, 0.0, 0.0, 0.0]


@pytest.fixture(scope="module")
def serve(tiny_model_files):
    """Calls the tiny export's serving_default on (images, boxes)."""
    _, _, version_dir = tiny_model_files
    signature = tf.saved_model.load(str(version_dir)).signatures["serving_default"]

    def call(images, boxes):
        return signature(
            images=tf.constant(images, tf.string),
            boxes=tf.constant(np.asarray(boxes, np.float32).reshape(-1, 4)),
        )

    return call


def encoded(width, height, image_format):
    pixels = np.random.default_rng(0).integers(0, 256, (height, width, 3), np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, image_format)
    return buffer.getvalue()


def png_claiming_size(width, height):
    """A small PNG whose IHDR states width x height (CRC fixed up): what a
    decompression bomb's header looks like, without building one."""
    data = bytearray(encoded(32, 32, "PNG"))
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def jpeg_claiming_size(jpeg_bytes, width, height):
    """The JPEG with its frame header (baseline or progressive) stating
    width x height."""
    start = min(i for i in (jpeg_bytes.find(m) for m in (b"\xff\xc0", b"\xff\xc2"))
                if i >= 0)  # fmt: skip
    patched = bytearray(jpeg_bytes)
    patched[start + 5 : start + 9] = struct.pack(">HH", height, width)
    return bytes(patched)


@pytest.mark.parametrize("image_format", ["PNG", "JPEG"])
def test_header_size_matches_the_decoded_size(image_format):
    data = encoded(37, 23, image_format)
    assert header_image_size(tf.constant(data)).numpy().tolist() == [23, 37]


def test_graph_and_numpy_jpeg_checks_agree(shared_data):
    for path in sorted((shared_data / "mpii_samples").glob("*.jpg")):
        good = path.read_bytes()
        assert find_stray_jpeg_marker(good) is None
        assert bool(jpeg_scan_is_clean(tf.constant(good)))
        for seed in range(3):
            bad = corrupt_jpeg_body(good, seed)
            assert find_stray_jpeg_marker(bad) is not None
            assert not bool(jpeg_scan_is_clean(tf.constant(bad)))


def test_pixel_limit_is_checked_before_decoding(serve, shared_data):
    side = 15000
    assert side * side > MAX_IMAGE_PIXELS
    jpeg = (shared_data / "mpii_samples" / "052475643.jpg").read_bytes()
    good = encoded(64, 64, "PNG")
    for bomb in (png_claiming_size(side, side), jpeg_claiming_size(jpeg, side, side)):
        with pytest.raises(
            tf.errors.InvalidArgumentError, match=r"images\[1\].*pixels"
        ):
            serve([good, bomb], [WHOLE_IMAGE, WHOLE_IMAGE])


def test_tiny_images_are_rejected(serve):
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"images\[0\].*smaller"):
        serve([encoded(1, 1, "PNG")], [WHOLE_IMAGE])


@pytest.mark.parametrize(
    "box", [[0, 0, 1e30, 1e30], [10, 10, 1e-30, 1e-30], [10, 10, 1e-30, 50]]
)
def test_absurd_boxes_are_rejected(serve, box):
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"images\[0\] box"):
        serve([encoded(64, 64, "PNG")], [box])


def test_corrupt_jpeg_body_is_rejected(serve, shared_data):
    good = (shared_data / "mpii_samples" / "052475643.jpg").read_bytes()
    assert np.all(np.isfinite(serve([good], [WHOLE_IMAGE])["keypoints"].numpy()))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"images\[0\].*corrupt"):
        serve([corrupt_jpeg_body(good)], [WHOLE_IMAGE])


def padded_jpegs():
    """A 32 x 32 JPEG padded with 20 MB of FF 00 (valid byte stuffing): inside
    its scan, and after its end-of-image marker with another one at the end."""
    jpeg = encoded(32, 32, "JPEG")
    padding = b"\xff\x00" * 10_000_000
    return {
        "inside the scan": jpeg[:-2] + padding + jpeg[-2:],
        "after the end": jpeg + padding + b"\xff\xd9",
    }


@pytest.mark.parametrize("where", list(padded_jpegs()))
def test_jpeg_data_past_its_pixels_is_rejected(serve, where):
    padded = padded_jpegs()[where]
    good = encoded(64, 64, "PNG")
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"images\[1\].*past"):
        serve([good, padded], [WHOLE_IMAGE, WHOLE_IMAGE])
