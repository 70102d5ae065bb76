"""A saved model: how it is written, checked, found and loaded.

    hourglass8_mpii.keras   the network (architecture and weights)
    hourglass8_mpii.json    its sidecar: the `build_stacked_hourglass`
                            arguments, the joint set and the crop convention

`save_model` writes both; `load_model` reads any kind of model the programs
and the predictor accept: a `.keras` file, a training run directory (its
`final.keras`, else its best or latest checkpoint), a SavedModel export (a
version folder, or its base path: the highest version) or a single-file
heatmap model (`.tflite`, `.onnx`: `serving.heatmap_files`).

A `.keras` file holds the architecture and the weights only, so plain
`keras.saving.load_model(path)` reloads it in any fresh process, on any
backend. A compiled model's compile config would name the loss as
`keras_hourglass>joint_heatmap_mse`, which Keras finds only in a process
that imported `keras_hourglass`; no stock loss can stand in (ours weights
each joint's error, the stock MSE averages over joints first). The training
state (optimizer slots, step, learning rate) lives in a run's crash backup.

Both files are written atomically (`keras_hourglass.files`). A file cut
short anyway (a full disk, a copy) is named as damaged before Keras reads
it, since Keras reports a truncated archive as "File not found".
"""

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import h5py
import keras
import numpy as np

from keras_hourglass.files import read_json
from keras_hourglass.files import write_json_atomically
from keras_hourglass.files import write_with
from keras_hourglass.joint_sets import JointSet
from keras_hourglass.joint_sets import joint_set_from_record
from keras_hourglass.joint_sets import joint_set_record
from keras_hourglass.model import builder_arguments_of
from keras_hourglass.model import heatmap_model_problem
from keras_hourglass.model import joint_count
from keras_hourglass.transforms import CROP_CONVENTION_KEY
from keras_hourglass.transforms import OFFICIAL_TORCH
from keras_hourglass.transforms import crop_convention_from_metadata

SIDECAR_FORMAT_VERSION = 1
# The single-file heatmap models of `serving.heatmap_files` (LiteRT, ONNX).
HEATMAP_FILE_SUFFIXES = (".tflite", ".onnx")
# Members every `.keras` archive written by `model.save` holds.
KERAS_ARCHIVE_MEMBERS = ("config.json", "metadata.json", "model.weights.h5")
# A training run directory's models (the training program writes them there),
# best first.
FINAL_MODEL_FILE = "final.keras"
BEST_CHECKPOINT_FILE = "checkpoints/best.keras"
LATEST_CHECKPOINT_FILE = "checkpoints/latest.keras"
RUN_MODEL_FILES = (FINAL_MODEL_FILE, BEST_CHECKPOINT_FILE, LATEST_CHECKPOINT_FILE)


class DamagedFileError(ValueError):
    """A model or weights file exists but cannot be read whole."""


@dataclass(frozen=True)
class LoadedModel:
    """A model of any kind, with what the programs need to feed it.

    Attributes:
        source: Path. The `.keras` file or export version folder read.
        keras_model: `keras.Model`, or None for an export.
        export: the loaded SavedModel (`tf.saved_model.load`), or None.
        input_size: int. Side of the square input crop.
        num_joints: int. Heatmap channels K.
        output_names: tuple of str. The heatmap outputs, first stack first.
        joint_set: `JointSet`, or None when the file records none.
        crop_convention: `transforms.CropConvention` the model was trained on.
        builder_arguments: dict. The `build_stacked_hourglass` arguments
            of a Keras model ({} for an export).
        heatmap_file: for a LiteRT or ONNX heatmap file, its runner
            (`serving.heatmap_files`): `call(images)` -> per-stack
            heatmaps; else None.
    """

    source: Path
    keras_model: object
    export: object
    input_size: int
    num_joints: int
    output_names: tuple
    joint_set: JointSet | None
    crop_convention: object
    builder_arguments: dict
    heatmap_file: object = None


def sidecar_path(keras_path):
    """`hourglass8_mpii.keras` -> `hourglass8_mpii.json`."""
    return Path(keras_path).with_suffix(".json")


def checked_joint_set_record(joint_set, model):
    """`joint_sets.joint_set_record` of `joint_set`; ValueError when its
    joint count is not the number of heatmaps `model` predicts."""
    if joint_set.num_joints != joint_count(model):
        raise ValueError(
            f"joint set {joint_set.name!r} has {joint_set.num_joints} joints "
            f"but the model predicts {joint_count(model)} heatmaps"
        )
    return joint_set_record(joint_set)


def save_model(model, path, joint_set=None, crop_convention=OFFICIAL_TORCH,
               notes=None, check_reload=False):  # fmt: skip
    """Writes `model` to the `.keras` file `path` and its sidecar beside it.

    Both are written atomically, the sidecar first, so a `.keras` file this
    writes never lacks one. Before the `.keras` file replaces the old one it
    is checked to be a whole archive (and, with `check_reload`, to reload
    the same weights).

    Args:
        model: a functional `keras.Model`, compiled or not (only its
            architecture and weights are written).
        path: str or Path ending in `.keras`.
        joint_set: `JointSet` or None. The joints of the heatmaps.
        crop_convention: `transforms.CropConvention` the model expects.
        notes: dict or None. More JSON entries for the sidecar.
        check_reload: bool. Reload the file and compare every weight.

    Returns:
        The Path written.
    """
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"{path}: a model file must end in .keras")
    sidecar = {
        **(notes or {}),
        "format_version": SIDECAR_FORMAT_VERSION,
        "builder_arguments": builder_arguments_of(model),
        CROP_CONVENTION_KEY: crop_convention.to_metadata(),
    }
    if joint_set is not None:
        sidecar.update(checked_joint_set_record(joint_set, model))
    write_json_atomically(sidecar_path(path), sidecar, indent=1)

    def write_checked_archive(staging):
        # A model sharing `model`'s layers and weights but uncompiled: the
        # file holds no compile config and no optimizer state.
        keras.Model(model.input, model.output, name=model.name).save(staging)
        check_keras_archive(staging, advice="it is written again on the next save")
        if check_reload:
            reloaded = keras.saving.load_model(staging, compile=False).get_weights()
            expected = model.get_weights()
            if len(reloaded) != len(expected) or not all(
                np.array_equal(a, b) for a, b in zip(reloaded, expected)
            ):
                raise DamagedFileError(f"{path}: does not reload the model's weights")

    return write_with(path, write_checked_archive)


def check_keras_archive(path, advice="save or export the model again"):
    """Returns `path` when it is a complete `.keras` archive: the whole file
    is read and its checksums compared, so a file cut anywhere is caught.
    Else FileNotFoundError, or DamagedFileError naming the file and ending
    with `advice`."""
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
    """Returns `path` when it is a readable HDF5 weights file; else
    FileNotFoundError or DamagedFileError naming it, ending with `advice`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the weights file is missing; {advice}")
    try:
        with h5py.File(path, "r"):
            pass
    except OSError as error:
        raise DamagedFileError(f"{path} is damaged ({error}); {advice}") from None
    return path


def load_keras_file(path):
    """A `LoadedModel` of a `.keras` file, checked whole first: what its
    sidecar records, else what the model itself shows (a file without a
    sidecar: an older file, or a user's own model). Crops default to ours."""
    path = Path(path)
    check_keras_archive(path, advice="save it again, or rerun its training command")
    sidecar = {}
    if sidecar_path(path).is_file():
        sidecar = read_json(sidecar_path(path), what="the model's sidecar")
        if not isinstance(sidecar, dict):
            raise ValueError(
                f"{sidecar_path(path)}: the model's sidecar must be a JSON object"
            )
    model = keras.saving.load_model(path, compile=False)
    problem = heatmap_model_problem(model)
    if problem is not None:
        raise ValueError(f"{path}: not an hourglass (heatmap) model: {problem}")
    return LoadedModel(
        source=path,
        keras_model=model,
        export=None,
        input_size=int(model.input_shape[1]),
        num_joints=joint_count(model),
        output_names=tuple(model.output_names),
        joint_set=joint_set_from_record(sidecar),
        crop_convention=crop_convention_from_metadata(
            sidecar, where=str(sidecar_path(path))
        ),
        builder_arguments=sidecar.get("builder_arguments")
        or builder_arguments_of(model),
    )


def run_model_file(path):
    """Returns the `.keras` file of a path: the file itself, or a run
    directory's final/best/latest model, or its only `*.keras` file
    (FileNotFoundError when there is none; ValueError for another file)."""
    path = Path(path)
    if path.is_file():
        if path.suffix != ".keras":
            raise ValueError(
                f"{path}: not a model file this program reads (give a .keras "
                "file, a training run directory or a SavedModel export folder)"
            )
        return path
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such model file or run directory")
    for candidate in RUN_MODEL_FILES:
        if (path / candidate).is_file():
            return path / candidate
    found = sorted(path.rglob("*.keras"))
    if len(found) != 1:
        raise FileNotFoundError(
            f"{path}: expected final.keras or exactly one *.keras file, found "
            f"{[str(file) for file in found]}"
        )
    return found[0]


def export_versions(base_path):
    """Returns {version number: folder} of the numbered folders in an
    export's base path (TF Serving's layout)."""
    base_path = Path(base_path)
    if not base_path.is_dir():
        return {}
    return {int(p.name): p for p in base_path.iterdir()
            if p.name.isdigit() and p.is_dir()}  # fmt: skip


def latest_version_dir(path):
    """`path` itself when it is a SavedModel, else its highest numbered
    version folder holding one (FileNotFoundError when there is none)."""
    path = Path(path)
    if (path / "saved_model.pb").is_file():
        return path
    versions = export_versions(path)
    usable = [n for n, folder in versions.items()
              if (folder / "saved_model.pb").is_file()]  # fmt: skip
    if not usable:
        raise FileNotFoundError(f"{path}: no SavedModel version folder inside")
    return versions[max(usable)]


def loaded_from_metadata(source, metadata, **runner):
    """A `LoadedModel` described by the metadata an export or a heatmap file
    carries; `runner` is its `export` or `heatmap_file`."""
    return LoadedModel(
        source=Path(source),
        keras_model=None,
        export=runner.get("export"),
        input_size=int(metadata["input_size"]),
        num_joints=int(metadata["num_joints"]),
        output_names=tuple(metadata["heatmap_outputs"]),
        joint_set=joint_set_from_record(metadata),
        crop_convention=crop_convention_from_metadata(metadata, str(source)),
        builder_arguments={},
        heatmap_file=runner.get("heatmap_file"),
    )


def load_model(path):
    """Loads a `.keras` file, a training run directory, a SavedModel
    export (version folder or base path) or a LiteRT or ONNX heatmap file
    (`.tflite`, `.onnx`) as a `LoadedModel`.

    Raises:
        FileNotFoundError: the path does not exist or holds no model.
        DamagedFileError: the model file is cut short or corrupt.
        ValueError: not a model file, or an unreadable sidecar.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such model file or folder")
    folders = [path, *export_versions(path).values()]
    if any((folder / "saved_model.pb").is_file() for folder in folders):
        import tensorflow as tf  # exports are TensorFlow graphs, whatever the backend

        version_dir = latest_version_dir(path)
        export = tf.saved_model.load(str(version_dir))
        if "metadata" not in export.signatures:
            raise ValueError(f"{version_dir}: not an hourglass export (no metadata)")
        metadata = export.signatures["metadata"]()["metadata_json"].numpy()
        return loaded_from_metadata(version_dir, json.loads(metadata), export=export)
    if path.suffix in HEATMAP_FILE_SUFFIXES:
        from keras_hourglass.serving.heatmap_files import load_heatmap_file

        runner = load_heatmap_file(path)
        return loaded_from_metadata(path, runner.metadata, heatmap_file=runner)
    return load_keras_file(run_model_file(path))
