"""Checking encoded image files before their bytes go into a record.

Records store the original file bytes unchanged, and the pipeline trusts
them: every image is checked here once, by the rule every edge shares
(`keras_hourglass.data.image_checks.image_problem`: format, end marker, JPEG
body) and then by a strict full decode with Pillow (truncated data is an
error, not a grey fill), which also gives the size.
"""

import io
from pathlib import Path

from PIL import Image
from PIL import ImageFile
from PIL import UnidentifiedImageError

from keras_hourglass.data.image_checks import image_format_of
from keras_hourglass.data.image_checks import image_problem


class UnreadableImageError(ValueError):
    """An image file that is empty, truncated, corrupt or not JPEG/PNG."""


def inspect_image_bytes(image_bytes, where="image"):
    """Returns (format, width, height) of an encoded JPEG or PNG.

    Raises UnreadableImageError (naming `where`) for empty, truncated, corrupt
    or other-format data.
    """
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
