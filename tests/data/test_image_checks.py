"""The graph JPEG structure check (pipeline, predict, serving) gives exactly
the answer of the NumPy one (converter) on real, re-encoded, damaged and
hand-built files, including the edges of the segment walk."""

import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_hourglass.data.image_checks import MAX_LINKS_BEFORE_SCAN
from keras_hourglass.data.image_checks import _graph_scan_data_offset
from keras_hourglass.data.image_checks import find_stray_jpeg_marker
from keras_hourglass.data.image_checks import first_scan_data_offset
from keras_hourglass.data.image_checks import graph_marker_positions
from keras_hourglass.data.image_checks import image_is_complete
from keras_hourglass.data.image_checks import image_problem
from keras_hourglass.data.image_checks import jpeg_scan_is_clean

APP1 = b"\xff\xe1"


@tf.function
def _graph_answers(image_bytes):
    data = tf.io.decode_raw(image_bytes, tf.uint8)
    offset = _graph_scan_data_offset(data, graph_marker_positions(data))
    return offset, jpeg_scan_is_clean(image_bytes)


def assert_graph_agrees(jpeg_bytes):
    """The graph offset and verdict equal the NumPy ones; returns the verdict."""
    offset, clean = _graph_answers(tf.constant(jpeg_bytes))
    data = np.frombuffer(jpeg_bytes, np.uint8)
    assert int(offset) == first_scan_data_offset(data)
    expected_clean = find_stray_jpeg_marker(jpeg_bytes) is None
    assert bool(clean) == expected_clean
    return expected_clean


def encoded(seed=0, size=(48, 64), **save_options):
    """A smooth random picture as JPEG bytes (PIL, so progressive and
    optimised encodings are available)."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (size[0] // 8, size[1] // 8, 3), np.uint8)
    picture = Image.fromarray(coarse).resize(size[::-1], Image.BILINEAR)
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=90, **save_options)
    return buffer.getvalue()


def with_segment_after_soi(jpeg_bytes, segment):
    return jpeg_bytes[:2] + segment + jpeg_bytes[2:]


def app1(payload):
    return APP1 + (len(payload) + 2).to_bytes(2, "big") + payload


ENCODINGS = [
    {},
    {"progressive": True},
    {"optimize": True},
    {"restart_marker_blocks": 1},
]


@pytest.mark.parametrize("options", ENCODINGS)
def test_well_formed_encodings_are_clean(options):
    try:
        jpeg_bytes = encoded(**options)
    except TypeError:  # an older Pillow without restart markers
        pytest.skip(f"Pillow cannot save with {options}")
    assert assert_graph_agrees(jpeg_bytes)


def test_real_photos_and_their_damaged_copies(shared_data):
    paths = sorted((shared_data / "lspet_train" / "images").glob("*.jpg"))[:6]
    paths += sorted((shared_data / "mpii_samples").glob("*.jpg"))[:2]
    assert paths
    rng = np.random.default_rng(0)
    for path in paths:
        good = path.read_bytes()
        assert assert_graph_agrees(good), path.name
        data = np.frombuffer(good, np.uint8).copy()
        start = len(data) // 3
        data[start : start + 2048] = rng.integers(0, 256, 2048, np.uint8)
        assert not assert_graph_agrees(data.tobytes()), path.name


def test_random_damage_anywhere_gets_the_same_verdict():
    good = encoded(seed=1, size=(96, 128))
    rng = np.random.default_rng(1)
    verdicts = set()
    for _ in range(60):
        data = np.frombuffer(good, np.uint8).copy()
        where = rng.integers(0, len(data), rng.integers(1, 6))
        data[where] = rng.choice([0xFF, 0xDA, 0x00, 0xD9, 0xC4], len(where))
        verdicts.add(assert_graph_agrees(data.tobytes()))
        cut = rng.integers(0, len(good))
        assert_graph_agrees(good[:cut])
    assert verdicts == {True, False}


def test_scan_marker_inside_an_earlier_segment_is_not_the_scan():
    # An EXIF thumbnail holds a whole JPEG, start of scan included; only the
    # segment chain finds the real one.
    good = encoded()
    tagged = with_segment_after_soi(good, app1(b"Exif\x00\x00" + encoded(seed=3)))
    assert assert_graph_agrees(tagged)
    offset, _ = _graph_answers(tf.constant(tagged))
    assert int(offset) > len(app1(b"Exif\x00\x00" + encoded(seed=3)))


@pytest.mark.parametrize("link", [b"\xff", b"\xff\xd0"], ids=["fill", "restart"])
def test_the_segment_walk_limit_is_the_same(link):
    # Fill bytes and standalone markers before the first segment are links
    # of one and two bytes; around the limit the file passes, then fails.
    good = encoded()
    verdicts = [
        assert_graph_agrees(with_segment_after_soi(good, link * count))
        for count in range(MAX_LINKS_BEFORE_SCAN - 12, MAX_LINKS_BEFORE_SCAN + 1)
    ]
    assert verdicts[0] and not verdicts[-1]


@pytest.mark.parametrize(
    "jpeg_bytes",
    [
        b"",
        b"\xff\xd8",
        b"\xff\xd8\xff",
        b"\xff\xd8\x00\x00\x00\x00",
        b"\xff\xd8\xff\xda\x00\x02",
        b"\xff\xd8\xff\xda\x00\x09",
        b"\xff\xd8\xff\xe0\x00\x04\xff\xda\x00\x02\x12\xff",
        b"\xff\xd8\xff\xe0\x00\x04\xff\xda\x00\x02\x12\xff\x00\xff\xd9",
        b"\xff\xd8\xff\xe0\x00\x04\xff\xda\x00\x02\x12\xff\xe1\xff\xd9",
        b"\xff\xd8\xff\xe0\xff\xff\xff\xda\x00\x02",
        bytes(range(256)) * 4,
    ],
)
def test_hand_built_edge_cases(jpeg_bytes):
    assert_graph_agrees(jpeg_bytes)


def _whole_rule_cases():
    jpeg = encoded()
    png = tf.io.encode_png(tf.zeros([4, 4, 3], tf.uint8)).numpy()
    damaged = bytearray(jpeg)
    damaged[len(jpeg) // 2] = 0xFF
    damaged[len(jpeg) // 2 + 1] = 0x13
    return {
        "jpeg": (jpeg, None),
        "jpeg with data after its end": (jpeg + b"camera notes", None),
        "png": (png, None),
        "empty": (b"", "empty"),
        "text": (b"hello world" * 20, "not a JPEG or PNG"),
        "cut jpeg": (jpeg[: len(jpeg) // 2], "truncated JPEG"),
        "cut png": (png[:-6], "truncated PNG"),
        "png with data after its end": (png + b"\x00", "truncated PNG"),
        "corrupt jpeg body": (bytes(damaged), "corrupt JPEG body"),
        "jpeg header only": (b"\xff\xd8\xff\xe0\x00", "truncated JPEG"),
        "jpeg padded inside its scan": (
            jpeg[:-2] + b"\xff\x00" * 2**20 + jpeg[-2:], "past the end of its"
        ),
        "jpeg padded after its end": (
            jpeg + b"\xff\x00" * 2**20 + b"\xff\xd9", "past the end of its"
        ),
    }


@pytest.mark.parametrize("case", list(_whole_rule_cases()))
def test_the_whole_rule_gives_one_answer_in_python_and_in_the_graph(case):
    image_bytes, reason = _whole_rule_cases()[case]
    problem = image_problem(image_bytes)
    if reason is None:
        assert problem is None
    else:
        assert reason in problem
    assert bool(image_is_complete(tf.constant(image_bytes))) == (problem is None)
    in_graph = tf.function(image_is_complete)(tf.constant(image_bytes))
    assert bool(in_graph) == (problem is None)
