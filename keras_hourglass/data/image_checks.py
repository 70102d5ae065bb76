"""Is an encoded image complete? The one home of that rule: `image_problem`
(Python, the converter) and `image_is_complete` (graph ops, the pipeline and
serving) give the same answer.

A complete image starts with the JPEG or PNG magic bytes and ends with its end
marker (a JPEG's within the last `TAIL_BYTES`: cameras append data). A JPEG is
also no larger than its pixels can fill (`jpeg_byte_limit`: 20 MB of valid
stuffing behind a 32 x 32 image would cost the body scan seconds). libjpeg only
*warns* about a corrupt body, so its structure is checked: after the first
start-of-scan, 0xFF is followed only by stuffing, a restart or a marker allowed
between scans. Random bytes break this about 15 times per 4 KB; real photos
never do. Only the converter's full decode catches a body of zeros.
"""

import io

import numpy as np
import tensorflow as tf
from PIL import Image
from PIL import ImageFile
from PIL import ImageOps
from PIL import UnidentifiedImageError

JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_END_MARKER = b"\xff\xd9"
PNG_END_CHUNK = b"IEND"
# A JPEG's end marker is looked for near the end only.
TAIL_BYTES = 65536
START_OF_SCAN = 0xDA
# Bytes that may follow 0xFF after the first SOS: stuffing, fill, restarts and
# the markers of progressive files (DHT, DAC, SOS, DQT, DRI, COM, EOI).
ALLOWED_AFTER_FF = (0x00, 0xFF, *range(0xD0, 0xD8), 0xC4, 0xCC, 0xDA, 0xDB, 0xDD,
                    0xFE, 0xD9)  # fmt: skip
# Markers without a length field (TEM and restarts) that may precede the SOS.
STANDALONE_MARKERS = (0x01, *range(0xD0, 0xD8))
# A JPEG has a handful of segments before its first scan; more means junk.
# Both versions follow at most 2 ** 9 links from the first segment.
SEGMENT_DOUBLINGS = 9
MAX_LINKS_BEFORE_SCAN = 2**SEGMENT_DOUBLINGS
ALLOWED_TABLE = np.isin(np.arange(256), ALLOWED_AFTER_FF)
MAX_JPEG_BYTES_PER_PIXEL = 16
JPEG_METADATA_BYTES = 2**20


def jpeg_byte_limit(pixels):
    """The largest JPEG, in bytes, for `pixels` pixels (int or int64 tensor)."""
    return JPEG_METADATA_BYTES + MAX_JPEG_BYTES_PER_PIXEL * pixels


def first_scan_data_offset(data):
    """The offset just after the first SOS header of JPEG bytes `data` (NumPy
    uint8), or -1 when the segments before it do not chain up."""
    position = 2  # after the start-of-image marker
    for _ in range(MAX_LINKS_BEFORE_SCAN + 1):
        if position + 4 > len(data) or data[position] != 0xFF:
            return -1
        marker = int(data[position + 1])
        if marker == 0xFF or marker in STANDALONE_MARKERS:
            position += 1 if marker == 0xFF else 2
            continue
        length = int(data[position + 2]) * 256 + int(data[position + 3])
        position += 2 + length
        if marker == START_OF_SCAN:
            return position if position <= len(data) else -1
    return -1


def find_stray_jpeg_marker(jpeg_bytes):
    """Returns the offset of the first byte that breaks the JPEG structure
    (module doc), or None when the file is well formed."""
    data = np.frombuffer(jpeg_bytes, np.uint8)
    start = first_scan_data_offset(data)
    if start < 0:
        return 0
    scan = data[start:]
    stray = (scan[:-1] == 0xFF) & ~ALLOWED_TABLE[scan[1:]]
    found = np.flatnonzero(stray)
    return int(start + found[0]) if len(found) else None


def graph_marker_positions(data):
    """Returns the sorted int32 positions of every 0xFF byte in uint8 `data`
    and then `size(data)`, a position that leads nowhere."""
    found = tf.cast(tf.where(tf.equal(data, 0xFF))[:, 0], tf.int32)
    return tf.concat([found, [tf.size(data)]], axis=0)


def _graph_scan_data_offset(data, marker_positions):
    """Graph version of `first_scan_data_offset`, given the 0xFF positions.

    Each segment points at the 0xFF its length field names; instead of a
    while-loop, pointers are doubled (after n rounds, 2 ** n segments ahead).
    A start of scan and a broken link (an extra last entry) point at
    themselves, so the walk stops at whichever comes first.
    """
    size = tf.size(data)
    # Padding keeps every 4-byte read in bounds; such reads are rejected.
    padded = tf.concat([data, tf.zeros([4], tf.uint8)], axis=0)
    standalone = tf.constant(np.isin(np.arange(256), STANDALONE_MARKERS))
    marker = tf.cast(tf.gather(padded, marker_positions + 1), tf.int32)
    length = tf.cast(tf.gather(padded, marker_positions + 2), tf.int32) * 256 + (
        tf.cast(tf.gather(padded, marker_positions + 3), tf.int32)
    )
    step = tf.where(
        tf.equal(marker, 0xFF),
        1,
        tf.where(tf.gather(standalone, marker), 2, 2 + length),
    )
    count = tf.size(marker_positions)
    following = tf.searchsorted(
        marker_positions, marker_positions + step, out_type=tf.int32
    )
    following_index = tf.minimum(following, count - 1)
    lands_on_marker = tf.logical_and(
        following < count,
        tf.equal(tf.gather(marker_positions, following_index), marker_positions + step),
    )
    index = tf.range(count)
    in_bounds = marker_positions + 4 <= size
    is_scan = tf.logical_and(in_bounds, tf.equal(marker, START_OF_SCAN))
    pointer = tf.where(
        is_scan,
        index,
        tf.where(tf.logical_and(in_bounds, lands_on_marker), following, count),
    )
    pointer = tf.concat([pointer, [count]], axis=0)
    for _ in range(SEGMENT_DOUBLINGS):
        pointer = tf.gather(pointer, pointer)
    # The chain starts just after the start-of-image marker, at byte 2.
    first = tf.searchsorted(marker_positions, [2], out_type=tf.int32)[0]
    starts_at_two = tf.logical_and(
        first < count,
        tf.equal(tf.gather(marker_positions, tf.minimum(first, count - 1)), 2),
    )
    end = tf.gather(pointer, tf.where(starts_at_two, first, count))
    end_index = tf.minimum(end, count - 1)
    found = tf.logical_and(end < count, tf.gather(is_scan, end_index))
    position = tf.gather(marker_positions, end_index) + tf.gather(step, end_index)
    return tf.where(tf.logical_and(found, position <= size), position, -1)


def jpeg_scan_is_clean(image_bytes):
    """Returns a bool scalar: JPEG bytes whose segments chain up to a scan and
    whose entropy-coded data holds no stray marker (module doc)."""
    data = tf.io.decode_raw(image_bytes, tf.uint8)
    marker_positions = graph_marker_positions(data)
    start = _graph_scan_data_offset(data, marker_positions)
    in_scan = tf.logical_and(
        marker_positions >= start, marker_positions < tf.size(data) - 1
    )
    after_ff = tf.boolean_mask(marker_positions, in_scan) + 1
    following = tf.cast(tf.gather(data, after_ff), tf.int32)
    stray = tf.logical_not(tf.gather(tf.constant(ALLOWED_TABLE), following))
    return tf.logical_and(start >= 0, tf.logical_not(tf.reduce_any(stray)))


# === The whole rule ===


def image_format_of(image_bytes):
    """Returns "jpeg" or "png" from the magic bytes, or None for anything else."""
    if image_bytes.startswith(JPEG_MAGIC):
        return "jpeg"
    if image_bytes.startswith(PNG_MAGIC):
        return "png"
    return None


def image_problem(image_bytes):
    """Returns why encoded bytes are not a complete image (a short reason),
    or None when they are (module doc; same answer as `image_is_complete`)."""
    if not image_bytes:
        return "empty file"
    image_format = image_format_of(image_bytes)
    if image_format is None:
        return "not a JPEG or PNG file"
    if image_format == "png":
        if image_bytes[-8:-4] != PNG_END_CHUNK:
            return "truncated PNG (no IEND chunk at the end)"
        return None
    if JPEG_END_MARKER not in image_bytes[-TAIL_BYTES:]:
        return "truncated JPEG (no end-of-image marker)"
    try:
        with Image.open(io.BytesIO(image_bytes)) as image:  # the header only
            width, height = image.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return "corrupt JPEG header"
    limit = jpeg_byte_limit(width * height)
    if len(image_bytes) > limit:
        return (
            f"JPEG data run past the end of its {width} x {height} image "
            f"({len(image_bytes)} bytes; at most {limit} for its pixels)"
        )
    stray = find_stray_jpeg_marker(image_bytes)
    if stray is not None:
        return f"corrupt JPEG body (broken structure at byte {stray})"
    return None


def jpeg_fits_its_pixels(image_bytes):
    """Bool scalar: within `jpeg_byte_limit` of the header's size and a clean
    body (graph ops)."""
    size = tf.cast(tf.io.extract_jpeg_shape(image_bytes)[:2], tf.int64)
    length = tf.cast(tf.strings.length(image_bytes), tf.int64)
    return tf.cond(
        length <= jpeg_byte_limit(size[0] * size[1]),
        lambda: jpeg_scan_is_clean(image_bytes),
        lambda: tf.constant(False),
    )


def image_is_complete(image_bytes):
    """Returns a bool scalar (graph ops): `image_problem(image_bytes)` is None."""
    length = tf.strings.length(image_bytes)
    tail_start = tf.maximum(length - TAIL_BYTES, 0)
    tail = tf.strings.substr(image_bytes, tail_start, TAIL_BYTES)
    tail = tf.io.decode_raw(tail + b"\x00", tf.uint8)
    has_jpeg_end = tf.reduce_any(
        tf.logical_and(tf.equal(tail[:-1], 0xFF), tf.equal(tail[1:], 0xD9))
    )
    png_end = tf.strings.substr(image_bytes, tf.maximum(length - 8, 0), 4)
    is_jpeg = tf.equal(tf.strings.substr(image_bytes, 0, len(JPEG_MAGIC)), JPEG_MAGIC)
    is_png = tf.equal(tf.strings.substr(image_bytes, 0, len(PNG_MAGIC)), PNG_MAGIC)
    complete_png = tf.logical_and(is_png, tf.equal(png_end, PNG_END_CHUNK))
    # Only a JPEG that passes the cheap checks has its body scanned.
    complete_jpeg = tf.cond(
        tf.logical_and(is_jpeg, has_jpeg_end),
        lambda: jpeg_fits_its_pixels(image_bytes),
        lambda: tf.constant(False),
    )
    return tf.logical_or(complete_png, complete_jpeg)


# === Orientation ===

EXIF_ORIENTATION_TAG = 0x0112
UPRIGHT_JPEG_QUALITY = 95


def exif_orientation(image_bytes):
    """The EXIF Orientation (1 to 8) of encoded image bytes; 1 (as stored)
    when the tag is absent or the bytes are unreadable."""
    try:
        with Image.open(io.BytesIO(image_bytes)) as image:
            return int(image.getexif().get(EXIF_ORIENTATION_TAG, 1))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, TypeError):
        return 1


def upright_image_bytes(image_bytes):
    """Encoded bytes whose pixels are the picture as a viewer shows it: a
    JPEG or PNG with an EXIF Orientation other than 1 (which TensorFlow's
    decoders ignore) is turned and re-encoded in its format, without the tag."""
    image_format = image_format_of(image_bytes)
    if image_format is None or exif_orientation(image_bytes) in (0, 1):
        return image_bytes
    try:
        with Image.open(io.BytesIO(image_bytes)) as image:
            upright = ImageOps.exif_transpose(image)
            buffer = io.BytesIO()
            if image_format == "jpeg":
                upright.save(buffer, format="JPEG", quality=UPRIGHT_JPEG_QUALITY)
            else:
                upright.save(buffer, format="PNG")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return image_bytes  # the validity checks name what is wrong with it
    return buffer.getvalue()


# === The converter's strict check ===


class UnreadableImageError(ValueError):
    """An image file that is empty, truncated, corrupt or not JPEG/PNG."""


def inspect_image_bytes(image_bytes, where="image"):
    """Returns (format, width, height) of an encoded JPEG or PNG after a full
    decode; raises UnreadableImageError naming `where` otherwise."""
    problem = image_problem(image_bytes)
    if problem is not None:
        raise UnreadableImageError(f"{where}: {problem}")
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        raise RuntimeError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES must stay False")
    try:
        with Image.open(io.BytesIO(image_bytes)) as image:
            width, height = image.size
            image.load()  # a full decode: Pillow raises on a broken stream
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise UnreadableImageError(f"{where}: corrupt image ({error})") from error
    if width < 1 or height < 1:
        raise UnreadableImageError(f"{where}: image has size {width} x {height}")
    return image_format_of(image_bytes), width, height


def image_size_or_problem(path):
    """Returns the upright (width, height) from an image file's header only,
    or the reader's skip reason ("image missing" or "image unreadable")."""
    try:
        with Image.open(path) as image:
            width, height = image.size
            orientation = int(image.getexif().get(EXIF_ORIENTATION_TAG, 1))
            return (height, width) if orientation in (5, 6, 7, 8) else (width, height)
    except FileNotFoundError:
        return "image missing"
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return "image unreadable"
