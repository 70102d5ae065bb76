"""Limits the `serving_default` signature enforces before it decodes a pixel.

- An image may hold at most `MAX_IMAGE_PIXELS` (40 megapixels: a 12 MP phone
  photo passes, a 15000 x 15000 PNG of 655 KB that would cost 675 MB
  decoded does not). The size comes from the header (PNG IHDR, JPEG frame
  header, GIF logical screen, BMP info header), so a decompression bomb is
  refused without being decoded.
- Each side must be at least `MIN_IMAGE_SIDE` pixels: a 1 x 1 image has no
  person in it, and the network would still return a confident pose.
- A person box (not the whole-image zero box) must have both sides at least
  `MIN_BOX_SIDE_PIXELS` and at most `MAX_BOX_TO_IMAGE_RATIO` times the
  image's larger side: a box of 1e30 px gives NaN keypoints, one of 1e-30 px
  puts every keypoint at one point.

Each failed check raises InvalidArgumentError naming the input (`images[i]`).
"""

import tensorflow as tf

MAX_IMAGE_PIXELS = 40_000_000
MIN_IMAGE_SIDE = 16
MIN_BOX_SIDE_PIXELS = 4.0
MAX_BOX_TO_IMAGE_RATIO = 10.0

# Header bytes read; zero padding keeps reads of short inputs in bounds.
HEADER_BYTES = 32


def _header_integer(header, start, length, big_endian):
    """Returns the unsigned integer (int64) stored in header[start:start+length]."""
    values = tf.cast(header[start : start + length], tf.int64)
    if not big_endian:
        values = tf.reverse(values, [0])
    return tf.reduce_sum(values * (256 ** tf.range(length - 1, -1, -1, tf.int64)))


def _bmp_size(header):
    info_size = _header_integer(header, 14, 4, big_endian=False)

    def core_header():  # OS/2 BITMAPCOREHEADER: 16-bit sides
        width = _header_integer(header, 18, 2, big_endian=False)
        return tf.stack([_header_integer(header, 20, 2, big_endian=False), width])

    def info_header():  # 32-bit signed sides; a negative height means top-down
        width = _header_integer(header, 18, 4, big_endian=False)
        height = _header_integer(header, 22, 4, big_endian=False)
        height = tf.where(height >= 2**31, 2**32 - height, height)
        width = tf.where(width >= 2**31, tf.constant(0, tf.int64), width)
        return tf.stack([height, width])

    return tf.cond(tf.equal(info_size, 12), core_header, info_header)


def header_image_size(image_bytes):
    """Returns int64 [2] (height, width) read from the header of PNG, JPEG, GIF
    or BMP bytes without decoding them; (0, 0) for any other format."""
    padded = image_bytes + b"\x00" * HEADER_BYTES
    header = tf.io.decode_raw(tf.strings.substr(padded, 0, HEADER_BYTES), tf.uint8)
    magic = tf.strings.substr(padded, 0, 4)

    def png():
        return tf.stack(
            [_header_integer(header, 20, 4, True), _header_integer(header, 16, 4, True)]
        )

    def gif():
        return tf.stack(
            [_header_integer(header, 8, 2, False), _header_integer(header, 6, 2, False)]
        )

    def jpeg():
        return tf.cast(tf.io.extract_jpeg_shape(image_bytes)[:2], tf.int64)

    def unknown():
        return tf.zeros([2], tf.int64)

    return tf.case(
        [
            (tf.equal(magic, b"\x89PNG"), png),
            (tf.equal(tf.strings.substr(magic, 0, 3), b"\xff\xd8\xff"), jpeg),
            (tf.equal(magic, b"GIF8"), gif),
            (
                tf.equal(tf.strings.substr(magic, 0, 2), b"BM"),
                lambda: _bmp_size(header),
            ),
        ],
        default=unknown,
        exclusive=True,
    )


def check_image_size(size, where):
    """Returns an assertion that (height, width) `size` is within the limits."""
    size = tf.cast(size, tf.int64)
    pixels = size[0] * size[1]
    message = tf.strings.join(
        [where, tf.strings.format(
            " has height x width {} x {} ({} pixels); the limits are at most "
            f"{MAX_IMAGE_PIXELS} pixels and no side smaller than "
            f"{MIN_IMAGE_SIDE}", (size[0], size[1], pixels))]
    )  # fmt: skip
    within = tf.logical_and(
        pixels <= MAX_IMAGE_PIXELS, tf.reduce_min(size) >= MIN_IMAGE_SIDE
    )
    return tf.debugging.Assert(within, [message])


def check_box_size(box, image_height, image_width, where):
    """Returns an assertion that a person box has a sane size for its image;
    the whole-image box (w <= 0 or h <= 0) always passes."""
    box = tf.cast(box, tf.float32)
    larger_side = tf.cast(tf.maximum(image_height, image_width), tf.float32)
    whole_image = tf.logical_or(box[2] <= 0.0, box[3] <= 0.0)
    sides = box[2:]
    sane = tf.logical_and(
        tf.reduce_min(sides) >= MIN_BOX_SIDE_PIXELS,
        tf.reduce_max(sides) <= MAX_BOX_TO_IMAGE_RATIO * larger_side,
    )
    message = tf.strings.join(
        [where, tf.strings.format(
            " box (x, y, w, h) {} has a side under "
            f"{MIN_BOX_SIDE_PIXELS:g} px or over {MAX_BOX_TO_IMAGE_RATIO:g} x "
            "the image's larger side {}", (box, larger_side))]
    )  # fmt: skip
    return tf.debugging.Assert(tf.logical_or(whole_image, sane), [message])
