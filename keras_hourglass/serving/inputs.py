"""In-graph request preprocessing for the exported model: check and decode
encoded images and crop each person in its box as evaluation does.

A box is `(x, y, w, h)` in original pixels with pixel EDGES at integers, as
COCO and most detectors give them (the whole image is (0, 0, width, height));
`w <= 0` or `h <= 0` means the whole image. A person stored with centre c and
scale s is sent as `transforms.box_from_person(c, s)`.

Limits are checked before a pixel is decoded, each failure an
InvalidArgumentError naming the input (`images[i]`): `MAX_IMAGE_PIXELS` from
the header (and `image_checks.jpeg_byte_limit`) refuses a decompression bomb
undecoded; under `MIN_IMAGE_SIDE` the network would still return a confident
pose; a box side over `MAX_BOX_TO_IMAGE_RATIO` x the image's gives NaN
keypoints, one under `MIN_BOX_SIDE_PIXELS` puts every keypoint at one point.
"""

import tensorflow as tf

from keras_hourglass.data.decode import decode_image_region
from keras_hourglass.data.decode import warp_image
from keras_hourglass.data.image_checks import JPEG_MAGIC
from keras_hourglass.data.image_checks import PNG_MAGIC
from keras_hourglass.data.image_checks import image_is_complete
from keras_hourglass.transforms import OFFICIAL_TORCH
from keras_hourglass.transforms import person_crop_matrix
from keras_hourglass.transforms import person_from_box

MAX_IMAGE_PIXELS = 40_000_000
MIN_IMAGE_SIDE = 16
MIN_BOX_SIDE_PIXELS = 4.0
MAX_BOX_TO_IMAGE_RATIO = 10.0

# Header bytes read; zero padding keeps reads of short inputs in bounds.
HEADER_BYTES = 32


def _big_endian_integer(header, start, length):
    """The unsigned big-endian int64 in header[start:start+length]."""
    values = tf.cast(header[start : start + length], tf.int64)
    return tf.reduce_sum(values * (256 ** tf.range(length - 1, -1, -1, tf.int64)))


def header_image_size(image_bytes):
    """int64 [2] (height, width) from a PNG or JPEG header; (0, 0) otherwise."""
    padded = image_bytes + b"\x00" * HEADER_BYTES
    header = tf.io.decode_raw(tf.strings.substr(padded, 0, HEADER_BYTES), tf.uint8)
    magic = tf.strings.substr(padded, 0, len(PNG_MAGIC))

    def png():
        return tf.stack(
            [_big_endian_integer(header, 20, 4), _big_endian_integer(header, 16, 4)]
        )

    def jpeg():
        return tf.cast(tf.io.extract_jpeg_shape(image_bytes)[:2], tf.int64)

    def unknown():
        return tf.zeros([2], tf.int64)

    return tf.case(
        [
            (tf.equal(magic, PNG_MAGIC), png),
            (tf.equal(tf.strings.substr(magic, 0, len(JPEG_MAGIC)), JPEG_MAGIC), jpeg),
        ],
        default=unknown,
        exclusive=True,
    )


def image_size_problem(height, width):
    """Why an image of this size is refused, or None: `checked_image_size`'s
    limits, for callers that read the size first."""
    if height * width > MAX_IMAGE_PIXELS or min(height, width) < MIN_IMAGE_SIDE:
        return (
            f"image of {width} x {height} pixels; the limits are at most "
            f"{MAX_IMAGE_PIXELS} pixels and no side smaller than {MIN_IMAGE_SIDE}"
        )
    return None


def person_from_request_box(box, image_height, image_width):
    """`(center [2], scale [])` of a request's box (w <= 0: the whole image)."""
    box = tf.cast(box, tf.float32)
    height = tf.cast(image_height, tf.float32)
    width = tf.cast(image_width, tf.float32)
    whole_image = tf.logical_or(box[2] <= 0.0, box[3] <= 0.0)
    box = tf.where(whole_image, tf.stack([0.0, 0.0, width, height]), box)
    return person_from_box(box)


def check_box(box, image_height, image_width, where):
    """The assertions that a box is finite, overlaps the image and has sides
    within the limits (a whole-image box need only be finite)."""
    box = tf.cast(box, tf.float32)
    height = tf.cast(image_height, tf.float32)
    width = tf.cast(image_width, tf.float32)
    finite = tf.reduce_all(tf.math.is_finite(box))
    whole_image = tf.logical_or(box[2] <= 0.0, box[3] <= 0.0)
    overlaps = tf.reduce_all(
        tf.stack(
            [box[0] < width, box[1] < height, box[0] + box[2] > 0.0,
             box[1] + box[3] > 0.0]
        )
    )  # fmt: skip
    larger_side = tf.maximum(height, width)
    sane = tf.logical_and(
        tf.reduce_min(box[2:]) >= MIN_BOX_SIDE_PIXELS,
        tf.reduce_max(box[2:]) <= MAX_BOX_TO_IMAGE_RATIO * larger_side,
    )
    outside = tf.strings.join(
        [where, tf.strings.format(
            " box (x, y, w, h) {} is not finite or lies outside the image of "
            "height x width {} x {}", (box, image_height, image_width))]
    )  # fmt: skip
    wrong_size = tf.strings.join(
        [where, tf.strings.format(
            " box (x, y, w, h) {} has a side under "
            f"{MIN_BOX_SIDE_PIXELS:g} px or over {MAX_BOX_TO_IMAGE_RATIO:g} x "
            "the image's larger side {}", (box, larger_side))]
    )  # fmt: skip
    return [
        tf.debugging.Assert(
            tf.logical_and(finite, tf.logical_or(whole_image, overlaps)), [outside]
        ),
        tf.debugging.Assert(tf.logical_or(whole_image, sane), [wrong_size]),
    ]


def checked_image_size(image_bytes, where):
    """int32 [2] (height, width) of complete JPEG/PNG bytes within the limits,
    from the header; else InvalidArgumentError naming `where`."""
    # The first bytes as decimal numbers, e.g. "255 216 255": raw bytes would
    # not survive the error message's UTF-8 decoding.
    head = tf.io.decode_raw(tf.strings.substr(image_bytes, 0, 8), tf.uint8)
    not_complete = tf.strings.join(
        [where, " is not a complete JPEG or PNG image (empty, another format, "
         "truncated, a corrupt body, or data past the end of its pixels); its "
         "first bytes are ",
         tf.strings.reduce_join(tf.strings.as_string(head), separator=" ")]
    )  # fmt: skip
    complete = image_is_complete(image_bytes)
    with tf.control_dependencies([tf.debugging.Assert(complete, [not_complete])]):
        size = header_image_size(image_bytes)
    pixels = size[0] * size[1]
    too_large_or_small = tf.strings.join(
        [where, tf.strings.format(
            " has height x width {} x {} ({} pixels); the limits are at most "
            f"{MAX_IMAGE_PIXELS} pixels and no side smaller than "
            f"{MIN_IMAGE_SIDE}", (size[0], size[1], pixels))]
    )  # fmt: skip
    within = tf.logical_and(
        pixels <= MAX_IMAGE_PIXELS, tf.reduce_min(size) >= MIN_IMAGE_SIDE
    )
    with tf.control_dependencies([tf.debugging.Assert(within, [too_large_or_small])]):
        return tf.cast(size, tf.int32)


def crop_encoded_image(image_bytes, box, index, input_size,
                       crop_convention=OFFICIAL_TORCH):  # fmt: skip
    """Checks one image and box, then decodes only the region the person's
    crop reads (JPEG; PNG whole); returns the crop [S, S, 3] in [0, 1] and
    its matrix (original px -> crop px)."""
    where = tf.strings.format("images[{}]", index)
    height, width = tf.unstack(checked_image_size(image_bytes, where))
    # The decoder reads the bytes only once every check has passed.
    with tf.control_dependencies(check_box(box, height, width, where)):
        image_bytes = tf.identity(image_bytes)
    center, scale = person_from_request_box(box, height, width)
    matrix = person_crop_matrix(center, scale, input_size, convention=crop_convention)
    region, region_matrix, _ = decode_image_region(image_bytes, matrix, input_size)
    region.set_shape([None, None, 3])
    return warp_image(region, region_matrix, input_size), matrix


def crop_encoded_images(images, boxes, input_size, crop_convention=OFFICIAL_TORCH):
    """Crops one person from each encoded image (string [N]) in its box
    [N, 4]; returns crops [N, S, S, 3] and crop matrices [N, 3, 3]."""
    images = tf.convert_to_tensor(images, tf.string)
    boxes = tf.convert_to_tensor(boxes, tf.float32)
    count = tf.shape(images)[0]
    checks = [
        tf.debugging.assert_positive(
            count, message="images: the request holds no image (empty batch)"
        ),
        tf.debugging.assert_equal(
            tf.shape(boxes)[0], count, message="boxes: need one box per image"
        ),
    ]
    with tf.control_dependencies(checks):
        indices = tf.range(count)
    crops, matrices = tf.map_fn(
        lambda item: crop_encoded_image(*item, input_size, crop_convention),
        (images, boxes, indices),
        fn_output_signature=(
            tf.TensorSpec([input_size, input_size, 3], tf.float32),
            tf.TensorSpec([3, 3], tf.float32),
        ),
    )
    return crops, matrices
