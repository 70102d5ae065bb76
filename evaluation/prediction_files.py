"""Reading and writing prediction files: N x K x 2 original-image coordinates.

By suffix: `.mat` (variable `preds`, as pose-hg and pytorch-pose save it, else
`pos_pred_src`), `.h5`/`.hdf5` (dataset `preds`) and `.npy`, each N x K x 2 or
MATLAB's K x 2 x N (told apart by shape); `.csv`, one row per person in
ground-truth order, columns `x0,y0,x1,y1,...` or `<joint name>_x,_y` (such as
`r_ankle_x,r_ankle_y`), other columns ignored.
"""

from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import scipy.io

from evaluation.ground_truth import EvaluationInputError
from evaluation.ground_truth import load_h5_datasets
from keras_hourglass.data.formats.mat_files import existing_file
from keras_hourglass.data.formats.mat_files import load_mat_variables
from keras_hourglass.joint_sets import metric_joint_set

PREDICTION_VARIABLES = ("preds", "pos_pred_src")


def to_people_first(array, num_joints, where):
    """Returns N x K x 2, transposing MATLAB's K x 2 x N layout when given."""
    array = np.asarray(array)
    if array.ndim == 3 and array.shape[1:] == (num_joints, 2):
        return array.astype(np.float64)
    if array.ndim == 3 and array.shape[:2] == (num_joints, 2):
        return array.transpose(2, 0, 1).astype(np.float64)
    raise EvaluationInputError(
        f"{where}: predictions of shape {array.shape} are neither "
        f"N x {num_joints} x 2 nor {num_joints} x 2 x N"
    )


def _read_mat(path):
    contents = load_mat_variables(path)
    for name in PREDICTION_VARIABLES:
        if name in contents:
            return contents[name]
    raise EvaluationInputError(
        f"{path}: no variable 'preds' (found: {sorted(contents)})"
    )


def _read_npy(path):
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as error:
        raise EvaluationInputError(
            f"{path}: not a readable .npy file ({error})"
        ) from error


def csv_column_names(joint_names):
    """The `<name>_x, <name>_y` header this module writes."""
    return [f"{name}_{axis}" for name in joint_names for axis in ("x", "y")]


def _read_csv(path, num_joints):
    try:
        table = pd.read_csv(path)
    except ValueError as error:  # pandas' parse errors, UnicodeDecodeError
        raise EvaluationInputError(
            f"{path}: not a readable CSV file ({error})"
        ) from error
    numbered = [f"{axis}{index}" for index in range(num_joints) for axis in ("x", "y")]
    named = csv_column_names(metric_joint_set(num_joints).joint_names)
    for columns in (numbered, named):
        if set(columns) <= set(table.columns):
            values = table[columns].apply(pd.to_numeric, errors="coerce")
            return values.to_numpy(np.float64).reshape(len(table), num_joints, 2)
    raise EvaluationInputError(
        f"{path}: CSV needs columns x0,y0,...,x{num_joints - 1},y{num_joints - 1} "
        f"or {named[0]},{named[1]},... (found: {list(table.columns)[:6]}...)"
    )


def read_predictions(path, num_joints=16):
    """Reads a prediction file as float64 N x K x 2."""
    path = existing_file(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv(path, num_joints)
    read_h5 = lambda path: load_h5_datasets(path, ["preds"])[0]  # noqa: E731
    readers = {".mat": _read_mat, ".h5": read_h5, ".hdf5": read_h5, ".npy": _read_npy}
    if suffix not in readers:
        raise EvaluationInputError(
            f"{path}: unsupported prediction format '{suffix}' (.mat, .h5, .npy, .csv)"
        )
    return to_people_first(readers[suffix](path), num_joints, str(path))


def write_predictions(path, predictions, joint_names=None):
    """Writes N x K x 2 predictions in the format of the suffix, as read."""
    path = Path(path)
    predictions = np.asarray(predictions, dtype=np.float64)
    suffix = path.suffix.lower()
    if suffix == ".mat":
        scipy.io.savemat(path, {"preds": predictions})
    elif suffix in (".h5", ".hdf5"):
        with h5py.File(path, "w") as file:
            file.create_dataset("preds", data=predictions)
    elif suffix == ".npy":
        np.save(path, predictions)
    elif suffix == ".csv":
        if joint_names is None:
            joint_names = metric_joint_set(predictions.shape[1]).joint_names
        columns = csv_column_names(joint_names)
        flat = predictions.reshape(len(predictions), -1)
        pd.DataFrame(flat, columns=columns).to_csv(path, index=False)
    else:
        raise EvaluationInputError(f"{path}: unsupported prediction format '{suffix}'")
    return path
