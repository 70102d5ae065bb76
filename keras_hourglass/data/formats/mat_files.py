"""Opening a user's input file (any MATLAB version's .mat, or any file), with a
one-line error naming the file when it is missing, empty or unreadable."""

from pathlib import Path

import h5py
import numpy as np
import scipy.io


class InputFileError(ValueError):
    """An input file is missing, empty, unreadable or lacks a variable; the
    message names the file."""


class MissingInputFileError(InputFileError, FileNotFoundError):
    """An input file does not exist; the message names it."""


def existing_file(path):
    """Returns `path` as a Path; a clear error when it is missing or empty."""
    path = Path(path)
    if not path.is_file():
        raise MissingInputFileError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise InputFileError(f"{path}: file is empty")
    return path


def load_mat_variables(path):
    """All user variables of a .mat file; a clear error when it is unreadable."""
    path = existing_file(path)
    try:
        contents = scipy.io.loadmat(path)
    except NotImplementedError:
        # scipy reads MATLAB v4 to v7.2; v7.3 (`save -v7.3`) files are HDF5.
        return load_matlab_v73(path)
    except Exception as error:  # scipy raises several types for corrupt files
        raise InputFileError(f"{path}: not a readable .mat file ({error})") from error
    return {key: value for key, value in contents.items() if not key.startswith("__")}


def load_matlab_v73(path):
    """Returns {name: array} of the top-level numeric arrays of a MATLAB v7.3
    (HDF5) file, in MATLAB's dimension order."""
    try:
        with h5py.File(path, "r") as file:
            # HDF5 stores MATLAB's column-major arrays with the axes reversed.
            return {
                name: np.asarray(item[()]).T
                for name, item in file.items()
                if isinstance(item, h5py.Dataset) and item.dtype.kind in "fiu"
            }
    except (OSError, ValueError, TypeError) as error:
        raise InputFileError(f"{path}: not a readable .mat file ({error})") from error


def require_variable(variables, name, path):
    """`variables[name]` as an array; a clear error naming `path` when absent."""
    if name not in variables:
        raise InputFileError(
            f"{path}: variable '{name}' missing (found: {sorted(variables)})"
        )
    return np.asarray(variables[name])
