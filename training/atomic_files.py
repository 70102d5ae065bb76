"""Files that are either the old or the new version after a crash, never half.

Each is written to a temporary file beside it, flushed to disk, then renamed
over the old one (`os.replace` is atomic on POSIX file systems).
"""

import hashlib
import os
from pathlib import Path


def write_text_atomically(path, text):
    """Replaces `path` with `text` in one step."""
    path = Path(path)
    staging = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with staging.open("w", newline="") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(staging, path)


def file_sha256(path, chunk_bytes=1 << 20):
    """The SHA-256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_bytes), b""):
            digest.update(chunk)
    return digest.hexdigest()
