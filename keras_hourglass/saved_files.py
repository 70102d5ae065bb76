"""Checks that a saved model or weights file is whole before it is read.

A file cut short by a crash or a full disk otherwise fails deep inside Keras
or h5py with a message that misleads (Keras says "File not found" for a
`.keras` archive that exists but is truncated; h5py says "truncated file:
eof = ..."). These checks name the file, say it is damaged and what to do.
"""

import zipfile
from pathlib import Path

import h5py

# Members every `.keras` archive written by `model.save` holds.
KERAS_ARCHIVE_MEMBERS = ("config.json", "metadata.json", "model.weights.h5")


class DamagedFileError(ValueError):
    """A model or weights file exists but cannot be read whole."""


def check_keras_archive(path, advice="save or export the model again"):
    """Raises unless `path` is a complete `.keras` archive; returns `path`.

    The whole archive is read and its checksums compared, so a file cut
    anywhere is caught.

    Raises:
        FileNotFoundError: there is no such file.
        DamagedFileError: the archive is truncated, corrupt or incomplete;
            the message names the file and ends with `advice`.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model file")
    try:
        with zipfile.ZipFile(path) as archive:
            bad_member = archive.testzip()
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise DamagedFileError(
            f"{path} is damaged: not a complete .keras archive ({error}); it was "
            f"probably cut short by a crash or a full disk; {advice}"
        ) from None
    missing = [name for name in KERAS_ARCHIVE_MEMBERS if name not in names]
    if bad_member is not None or missing:
        problem = f"{bad_member} fails its checksum" if bad_member else (
            f"it lacks {missing}"
        )  # fmt: skip
        raise DamagedFileError(f"{path} is damaged: {problem}; {advice}")
    return path


def check_weights_file(path, advice):
    """Raises unless `path` is a readable HDF5 weights file; returns `path`.

    Raises:
        FileNotFoundError: the file is missing (message names it and `advice`).
        DamagedFileError: the file exists but HDF5 cannot open it.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the weights file is missing; {advice}")
    try:
        with h5py.File(path, "r"):
            pass
    except OSError as error:
        raise DamagedFileError(f"{path} is damaged ({error}); {advice}") from None
    return path
