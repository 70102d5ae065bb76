"""Cheap checks of encoded image files before their bytes go into a record.

Records store the original file bytes unchanged. The format comes from the
magic bytes and the size from the header; corruption is caught by a strict
full decode with Pillow (truncated data is an error, not a grey fill), the
end-of-image marker that a truncated download lacks, and for JPEG the
structure of the compressed body (`data.jpeg_scan`), which libjpeg itself only
warns about.
"""

import io
from pathlib import Path

from PIL import Image
from PIL import ImageFile
from PIL import UnidentifiedImageError

from keras_hourglass.data.jpeg_scan import find_stray_jpeg_marker

JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_END_MARKER = b"\xff\xd9"


class UnreadableImageError(ValueError):
    """An image file that is empty, truncated, corrupt or not JPEG/PNG."""


def detect_image_format(image_bytes):
    """Returns "jpeg" or "png" from the magic bytes, or None for anything else."""
    if image_bytes.startswith(JPEG_MAGIC):
        return "jpeg"
    if image_bytes.startswith(PNG_MAGIC):
        return "png"
    return None


def inspect_image_bytes(image_bytes, where="image"):
    """Returns (format, width, height) of an encoded JPEG or PNG.

    Raises UnreadableImageError (naming `where`) for empty, truncated, corrupt
    or other-format data.
    """
    if not image_bytes:
        raise UnreadableImageError(f"{where}: empty file")
    image_format = detect_image_format(image_bytes)
    if image_format is None:
        raise UnreadableImageError(f"{where}: not a JPEG or PNG file")
    # Padding after the end marker is common; anything else means truncation.
    tail = image_bytes.rstrip(b"\x00\r\n ")
    if image_format == "jpeg" and not tail.endswith(JPEG_END_MARKER):
        raise UnreadableImageError(f"{where}: truncated JPEG (no end-of-image marker)")
    stray = find_stray_jpeg_marker(image_bytes) if image_format == "jpeg" else None
    if stray is not None:
        raise UnreadableImageError(
            f"{where}: corrupt JPEG body (broken structure at byte {stray})"
        )
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
    return image_format, width, height


def read_image_size(path):
    """Returns (width, height) from an image file's header only (no decoding).

    Raises FileNotFoundError for a missing file and UnreadableImageError
    naming the file when the header is unreadable.
    """
    if not Path(path).is_file():
        raise FileNotFoundError(f"image not found: {path}")
    try:
        with Image.open(path) as image:
            return image.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        message = f"{Path(path)}: unreadable image ({error})"
        raise UnreadableImageError(message) from error
