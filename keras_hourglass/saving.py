"""A saved model: how it is written, checked, found and loaded.

`save_model` writes `name.keras` (the network) and its sidecar `name.json`
(the `build_stacked_hourglass` arguments, joint set and crop convention),
both atomically. `load_model` reads any model the programs and the predictor
accept: a `.keras` file, a training run directory, a SavedModel export or a
`.tflite`/`.onnx` heatmap file.

A `.keras` file holds no compile config, so plain `keras.saving.load_model`
reloads it in any fresh process: the config would name our loss, which Keras
finds only where `keras_hourglass` is imported (the training state lives in
a run's crash backup). A file cut short is named as damaged before Keras
reads it, since Keras reports a truncated archive as "File not found".
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

    Exactly one of `keras_model`, `export` (a loaded SavedModel) and
    `heatmap_file` (a `serving.heatmap_files` runner) is set; `joint_set` is
    None when the file records none, `builder_arguments` {} but for a Keras
    model.
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
    """`joint_set_record(joint_set)`, checked against `model`'s heatmaps."""
    if joint_set.num_joints != joint_count(model):
        raise ValueError(
            f"joint set {joint_set.name!r} has {joint_set.num_joints} joints "
            f"but the model predicts {joint_count(model)} heatmaps"
        )
    return joint_set_record(joint_set)


def save_model(model, path, joint_set=None, crop_convention=OFFICIAL_TORCH,
               notes=None, check_reload=False):  # fmt: skip
    """Writes `model`'s architecture and weights to the `.keras` file `path`
    and its sidecar beside it; returns the Path.

    Both are written atomically, the sidecar first, so a `.keras` file never
    lacks one. The new archive is checked whole (with `check_reload`, also
    reloaded and compared weight by weight) before it replaces the old one.
    `notes` are more sidecar entries.
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
    """Returns `path` when it is a complete `.keras` archive (every checksum
    read); else FileNotFoundError, or DamagedFileError ending with `advice`."""
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
    """Returns `path` when it is a readable HDF5 weights file (errors as
    `check_keras_archive`)."""
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
    """A `LoadedModel` of a `.keras` file: what its sidecar records, else
    (a user's own model) what the model shows, with our crop."""
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
    """The `.keras` file itself, or a run directory's final/best/latest
    model, or its only `*.keras` file."""
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
    """{version number: folder} of an export's base path (TF Serving's layout)."""
    base_path = Path(base_path)
    if not base_path.is_dir():
        return {}
    return {int(p.name): p for p in base_path.iterdir()
            if p.name.isdigit() and p.is_dir()}  # fmt: skip


def latest_version_dir(path):
    """`path` itself when it is a SavedModel, else its highest version."""
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
    """A `LoadedModel` of an export's or a heatmap file's metadata; `runner`
    is its `export` or `heatmap_file`."""
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
    """Loads a `.keras` file, a training run directory, a SavedModel export
    (version folder or base path) or a `.tflite`/`.onnx` heatmap file as a
    `LoadedModel`; FileNotFoundError, DamagedFileError or ValueError name
    the path at fault."""
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
