"""Export a trained hourglass as a versioned SavedModel for TensorFlow Serving.

    export_saved_model(model, "exports/hourglass")     # -> exports/hourglass/1/

The SavedModel is written with `keras.export.ExportArchive` (never a bare
`tf.saved_model.save` of a Keras 3 model); its signatures are described in
`keras_hourglass.serving.signatures`. Each version is written to a hidden
temporary folder first and renamed into place, because TF Serving watches the
base path and would otherwise load a half-written version.
"""

import json
import logging
import shutil
from pathlib import Path

import keras

from keras_hourglass.joint_sets import BUILT_IN_JOINT_SETS
from keras_hourglass.joint_sets import JointSet
from keras_hourglass.serving.deployment import write_deployment_files
from keras_hourglass.serving.deployment import write_metadata_file
from keras_hourglass.serving.deployment import write_warmup_requests
from keras_hourglass.serving.fold import fold_batch_norms
from keras_hourglass.serving.signatures import build_metadata
from keras_hourglass.serving.signatures import make_signature_functions
from keras_hourglass.serving.signatures import model_input_size
from keras_hourglass.serving.signatures import signature_specs

logger = logging.getLogger(__name__)

# A run directory's models, best first (training.callbacks' layout).
RUN_MODEL_CANDIDATES = (
    "final.keras",
    "checkpoints/best.keras",
    "checkpoints/latest.keras",
)


def find_keras_file(path):
    """Returns the `.keras` file of a path: the file itself, or a run
    directory's final/best/latest model, or its only `*.keras` file."""
    path = Path(path)
    if path.is_file():
        if path.suffix != ".keras":
            raise ValueError(f"{path}: not a .keras model file")
        return path
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such model file or run directory")
    for candidate in RUN_MODEL_CANDIDATES:
        if (path / candidate).is_file():
            return path / candidate
    found = sorted(path.rglob("*.keras"))
    if len(found) != 1:
        raise FileNotFoundError(
            f"{path}: expected final.keras or exactly one *.keras file, found "
            f"{[str(file) for file in found]}"
        )
    return found[0]


def load_keras_model(path):
    """Loads a `.keras` file or a run directory's model (safe mode)."""
    keras_file = find_keras_file(path)
    logger.info("loading %s", keras_file)
    return keras.saving.load_model(keras_file, compile=False)


def joint_set_from_metadata(metadata):
    """Returns a JointSet from a `dataset.json`-style dict."""
    return JointSet(
        name=metadata.get("name", "custom"),
        joint_names=tuple(metadata["joint_names"]),
        flip_pairs=tuple(tuple(pair) for pair in metadata.get("flip_pairs", [])),
        skeleton=tuple(tuple(edge) for edge in metadata.get("skeleton", [])),
    )


def joint_set_for_run(path, num_joints):
    """Returns the joint set of a run: its dataset's `dataset.json` (via the
    run's `config.json` `data_dir`) when readable, else the built-in set with
    `num_joints` joints. Raises ValueError when neither exists."""
    path = Path(path)
    run_dir = path if path.is_dir() else path.parent
    for directory in (run_dir, run_dir.parent):
        config_path = directory / "config.json"
        if not config_path.is_file():
            continue
        data_dir = Path(json.loads(config_path.read_text()).get("data_dir", ""))
        dataset_json = data_dir / "dataset.json"
        if dataset_json.is_file():
            joint_set = joint_set_from_metadata(json.loads(dataset_json.read_text()))
            if joint_set.num_joints == num_joints:
                return joint_set
    return builtin_joint_set(num_joints)


def builtin_joint_set(num_joints):
    """Returns the built-in joint set with `num_joints` joints (MPII, LSP, COCO)."""
    for joint_set in BUILT_IN_JOINT_SETS.values():
        if joint_set.num_joints == num_joints:
            return joint_set
    raise ValueError(
        f"no built-in joint set has {num_joints} joints; pass joint_set= explicitly"
    )


def next_version(model_dir):
    """Returns 1 + the highest numeric version folder in `model_dir` (or 1)."""
    model_dir = Path(model_dir)
    versions = [int(p.name) for p in model_dir.glob("*") if p.name.isdigit()]
    return max(versions, default=0) + 1


def make_export_archive(model, metadata):
    """Returns a `keras.export.ExportArchive` with the four signatures."""
    archive = keras.export.ExportArchive()
    archive.track(model)
    functions = make_signature_functions(model, metadata)
    specs = signature_specs(metadata["input_size"])
    for name in ("serving_default", "whole_image", "heatmaps", "metadata"):
        archive.add_endpoint(name, functions[name], input_signature=specs[name])
    return archive


def export_saved_model(
    model,
    out_dir,
    version=None,
    joint_set=None,
    flip_test=True,
    model_name="hourglass",
    warmup=True,
    overwrite=False,
    fold_batch_norm=True,
):
    """Exports a model as `out_dir/<version>/` with deployment files beside it.

    Args:
        model: a `keras.Model`, or a path to a `.keras` file or run directory.
        out_dir: str or Path. The model base path (holds version folders).
        version: int or None. None: one above the highest existing version.
        joint_set: `JointSet` or a built-in name ("mpii", "lsp", "coco").
            Defaults to the run's dataset metadata or the built-in set with
            the model's joint count.
        flip_test: bool. Average with the mirrored crop in `serving_default`.
        model_name: str. The name in `models.config` and in warm-up requests.
        warmup: bool. Write `assets.extra/tf_serving_warmup_requests`.
        overwrite: bool. Replace an existing version folder.
        fold_batch_norm: bool. Serve the model with every batch norm that
            follows a convolution folded into it (`serving.fold`): same
            heatmaps to float32 rounding, ~1.1x the images/s on CPU
            (benchmarks/model_benchmark.py).

    Returns:
        Path of the written version directory.
    """
    source = model if isinstance(model, str | Path) else None
    if source is not None:
        model = load_keras_model(source)
    num_joints = int(model.outputs[-1].shape[-1])
    if isinstance(joint_set, str):
        joint_set = BUILT_IN_JOINT_SETS[joint_set]
    if joint_set is None:
        joint_set = (
            joint_set_for_run(source, num_joints) if source else
            builtin_joint_set(num_joints)
        )  # fmt: skip
    if fold_batch_norm:
        model = fold_batch_norms(model)
    metadata = build_metadata(model, joint_set, flip_test)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    version = int(version) if version is not None else next_version(out_dir)
    version_dir = out_dir / str(version)
    if version_dir.exists() and not overwrite:
        raise FileExistsError(f"{version_dir} exists; pass another version")
    staging = out_dir / f".tmp-{version}"
    shutil.rmtree(staging, ignore_errors=True)
    make_export_archive(model, metadata).write_out(str(staging), verbose=False)
    write_metadata_file(staging, metadata)
    if warmup:
        write_warmup_requests(staging, model_name, model_input_size(model))
    if version_dir.exists():
        shutil.rmtree(version_dir)
    staging.rename(version_dir)
    write_deployment_files(out_dir, model_name)
    logger.info("exported %s", version_dir)
    return version_dir


def export_tflite(version_dir, out_path=None):
    """Converts the `heatmaps` signature of an export to a TFLite flatbuffer.

    The keypoint signatures decode strings and loop over images, which
    TFLite does not run; on-device callers crop, call `heatmaps` and decode
    with `inference.heatmaps_to_image_keypoints` themselves.

    Returns:
        The written path (default: `<version_dir>/../hourglass_heatmaps.tflite`).
    """
    import tensorflow as tf

    version_dir = Path(version_dir)
    converter = tf.lite.TFLiteConverter.from_saved_model(
        str(version_dir), signature_keys=["heatmaps"]
    )
    out_path = Path(out_path or version_dir.parent / "hourglass_heatmaps.tflite")
    out_path.write_bytes(converter.convert())
    return out_path
