"""In-graph request preprocessing for the exported model: check and decode
encoded images, turn person boxes into crops, warp them to the input size.

Box convention (the `boxes` input of the `serving_default` signature):
`(x, y, w, h)` float32 per image, in original image pixels with pixel EDGES at
integers, as COCO boxes and most detectors give them: the box covers
[x, x + w] x [y, y + h], and the whole image is (0, 0, width, height). A box
with `w <= 0` or `h <= 0` means "the whole image".

A box becomes the person centre/scale of the project's crop convention
(`transforms.person_from_box`: box centre moved to pixel centres at integers,
scale = max(w, h) / 200), then `transforms.person_crop_matrix` makes the same
crop as training and evaluation. So a person stored with centre c and scale s
(MPII `objpos`/`scale`) is sent as the square box
`transforms.box_from_person(c, s)` = (cx + 0.5 - 100 s, cy + 0.5 - 100 s,
200 s, 200 s) and gets exactly the crop the evaluation program uses.
"""

import tensorflow as tf

from keras_hourglass.data.decode import decode_image_region
from keras_hourglass.data.decode import warp_image
from keras_hourglass.data.image_checks import image_is_complete
from keras_hourglass.serving.request_checks import check_box_size
from keras_hourglass.serving.request_checks import check_image_size
from keras_hourglass.serving.request_checks import header_image_size
from keras_hourglass.transforms import OFFICIAL_TORCH
from keras_hourglass.transforms import person_crop_matrix
from keras_hourglass.transforms import person_from_box


def person_from_request_box(box, image_height, image_width):
    """Returns `(center [2], scale [])` of a request's box (x, y, w, h); a box
    with w <= 0 or h <= 0 is replaced by the whole image."""
    box = tf.cast(box, tf.float32)
    height = tf.cast(image_height, tf.float32)
    width = tf.cast(image_width, tf.float32)
    whole_image = tf.logical_or(box[2] <= 0.0, box[3] <= 0.0)
    box = tf.where(whole_image, tf.stack([0.0, 0.0, width, height]), box)
    return person_from_box(box)


def check_box(box, image_height, image_width, where):
    """Raises InvalidArgumentError (in the graph) when a box is not finite or
    lies entirely outside the image; a whole-image box always passes."""
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
    message = tf.strings.join(
        [where, tf.strings.format(
            " box (x, y, w, h) {} is not finite or lies outside the image of "
            "height x width {} x {}", (box, image_height, image_width))]
    )  # fmt: skip
    return tf.debugging.Assert(
        tf.logical_and(finite, tf.logical_or(whole_image, overlaps)), [message]
    )


def first_bytes_text(image_bytes, count=8):
    """Returns the first bytes as decimal numbers, e.g. "255 216 255" (raw
    bytes would not survive the error message's UTF-8 decoding)."""
    head = tf.io.decode_raw(tf.strings.substr(image_bytes, 0, count), tf.uint8)
    return tf.strings.reduce_join(tf.strings.as_string(head), separator=" ")


def checked_image_size(image_bytes, where):
    """Returns int32 [2] (height, width) from the header of complete JPEG/PNG
    bytes within the `request_checks` limits; InvalidArgumentError naming
    `where` otherwise. Nothing is decoded."""
    message = tf.strings.join(
        [where, " is not a complete JPEG or PNG image (empty, another format, "
         "truncated, or a corrupt body); its first bytes are ",
         first_bytes_text(image_bytes)]
    )  # fmt: skip
    complete = image_is_complete(image_bytes)
    with tf.control_dependencies([tf.debugging.Assert(complete, [message])]):
        size = header_image_size(image_bytes)
    with tf.control_dependencies([check_image_size(size, where)]):
        return tf.cast(size, tf.int32)


def crop_encoded_image(image_bytes, box, index, input_size,
                       crop_convention=OFFICIAL_TORCH):  # fmt: skip
    """Checks one image's header and box, then decodes only the region the
    crop of the person in `box` reads (JPEG; PNG is decoded whole), with the
    model's `crop_convention` (`transforms.CropConvention`).

    Returns `(crop float32 [S, S, 3] in [0, 1], matrix float32 [3, 3])`, the
    matrix mapping original image px to crop px.
    """
    where = tf.strings.format("images[{}]", index)
    height, width = tf.unstack(checked_image_size(image_bytes, where))
    checks = [
        check_box(box, height, width, where),
        check_box_size(box, height, width, where),
    ]
    # The decoder reads the bytes only once every check has passed.
    with tf.control_dependencies(checks):
        image_bytes = tf.identity(image_bytes)
    center, scale = person_from_request_box(box, height, width)
    matrix = person_crop_matrix(center, scale, input_size, convention=crop_convention)
    region, region_matrix, _ = decode_image_region(image_bytes, matrix, input_size)
    region.set_shape([None, None, 3])
    return warp_image(region, region_matrix, input_size), matrix


def crop_encoded_images(images, boxes, input_size, crop_convention=OFFICIAL_TORCH):
    """Decodes a batch of encoded images and crops one person from each.

    Args:
        images: string [N]. Encoded JPEG/PNG bytes.
        boxes: float32 [N, 4]. One (x, y, w, h) box per image (see the module
            docstring; w <= 0 or h <= 0: the whole image).
        input_size: int. Side of the network input.
        crop_convention: CropConvention. The model's (default: ours).

    Returns:
        crops float32 [N, S, S, 3] and crop matrices float32 [N, 3, 3].
    """
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


def whole_image_boxes(images):
    """Returns float32 [N, 4] zero boxes: "the whole image" for each image."""
    return tf.zeros([tf.shape(images)[0], 4], tf.float32)
