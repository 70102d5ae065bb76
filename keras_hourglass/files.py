"""Files a crash never leaves half written, and JSON files read with one error.

A file is written beside its place, flushed to disk and renamed over the old
one (`os.replace` is atomic on POSIX), so after a crash it is whole, old or new.
"""

import gzip
import hashlib
import json
import os
import tempfile
import zlib
from pathlib import Path


class JsonFileError(ValueError):
    """A JSON file is unreadable or not valid JSON; the message names it."""


class MissingJsonFileError(JsonFileError, FileNotFoundError):
    """A JSON file is missing; the message names it."""


def write_with(path, write):
    """Calls `write(staging_path)`, flushes the file and renames it over
    `path`; returns the Path. The staging name keeps the suffix (`.keras`)."""
    path = Path(path)
    staging = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    try:
        write(staging)
        with staging.open("rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(staging, path)
    finally:
        staging.unlink(missing_ok=True)
    sync_folder(path.parent)
    return path


def make_temporary_folder(parent, prefix):
    """A fresh folder in `parent`, as `tempfile.mkdtemp` makes, but with the
    umask's mode instead of owner-only 0700: a folder renamed into place (a
    dataset) must stay readable by the workers of a multi-machine job."""
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    umask = os.umask(0o022)  # reading the umask means setting it: put it back
    os.umask(umask)
    folder.chmod(0o777 & ~umask)
    return folder


def sync_folder(folder):
    """Flushes a folder's entries (a rename) to disk where the OS allows it."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass  # some file systems cannot sync a folder; the rename still holds
    finally:
        os.close(descriptor)


def write_bytes_atomically(path, data):
    """Replaces `path` with the bytes `data` in one step; returns the Path."""
    return write_with(path, lambda staging: staging.write_bytes(data))


def write_text_atomically(path, text):
    """Replaces `path` with `text` (newlines as given) in one step; returns it."""
    return write_bytes_atomically(path, text.encode())


def write_json_atomically(path, obj, indent=2, **dumps_options):
    """Replaces `path` with `obj` as JSON plus a final newline, in one step;
    `dumps_options` go to `json.dumps`. Returns the Path."""
    return write_text_atomically(
        path, json.dumps(obj, indent=indent, **dumps_options) + "\n"
    )


def read_json(path, what="JSON file"):
    """Returns the value a JSON file (or `.json.gz`) holds; the errors
    (`MissingJsonFileError`, `JsonFileError`) name `what` and the file."""
    path = Path(path)
    if not path.is_file():
        raise MissingJsonFileError(f"{what} not found: {path}")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as handle:
            return json.load(handle)
    # A cut .gz ends in EOFError, a damaged one in zlib.error or OSError.
    except (OSError, EOFError, zlib.error, ValueError) as error:
        raise JsonFileError(f"{what} {path} is not valid JSON ({error})") from None


def file_sha256(path, chunk_bytes=1 << 20):
    """The SHA-256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_bytes), b""):
            digest.update(chunk)
    return digest.hexdigest()
