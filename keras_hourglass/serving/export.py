"""Export a trained hourglass as a versioned SavedModel for TensorFlow Serving.

    export_saved_model(model, "exports/hourglass")     # -> exports/hourglass/1/

Written with `keras.export.ExportArchive` (signatures: `serving.signatures`)
into a hidden folder renamed into place, since TF Serving watches the base
path and would otherwise load a half-written version.
"""

import logging
import shutil
from pathlib import Path

import keras

from keras_hourglass.files import write_json_atomically
from keras_hourglass.saving import export_versions
from keras_hourglass.saving import load_model
from keras_hourglass.serving.deployment import METADATA_FILE_NAME
from keras_hourglass.serving.deployment import write_deployment_files
from keras_hourglass.serving.deployment import write_warmup_requests
from keras_hourglass.serving.heatmap_files import resolve_export_model
from keras_hourglass.serving.signatures import signature_endpoints
from keras_hourglass.serving.signatures import write_archive

logger = logging.getLogger(__name__)


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
    crop_convention=None,
):
    """Exports a model as `out_dir/<version>/` with deployment files beside it.

    Args:
        model: a `keras.Model`, a `saving.LoadedModel`, or a `.keras` file
            or training run directory.
        out_dir: str or Path. The model base path (holds version folders).
        version: int or None. None: one above the highest existing version.
        joint_set: `JointSet` or a built-in name. Defaults to the one the
            model records, else the built-in set with its joint count.
        flip_test: bool. Average with the mirrored crop in `serving_default`.
        model_name: str. The name in `models.config` and in warm-up requests.
        warmup: bool. Write `assets.extra/tf_serving_warmup_requests`.
        overwrite: bool. Replace an existing version folder.
        fold_batch_norm: bool. Fold batch norms into convolutions
            (`serving.fold`): same heatmaps, less work per image.
        crop_convention: `transforms.CropConvention` or None. How
            `serving_default` crops; None: the one the model records, else ours.

    Returns:
        Path of the written version directory.
    """
    if isinstance(model, str | Path):
        model = load_model(model)
    model, metadata = resolve_export_model(
        model, joint_set, crop_convention, fold_batch_norm, flip_test
    )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if version is None:
        version = max(export_versions(out_dir), default=0) + 1
    version_dir = out_dir / str(int(version))
    if version_dir.exists() and not overwrite:
        raise FileExistsError(f"{version_dir} exists; pass another version")
    staging = out_dir / f".tmp-{version}"
    shutil.rmtree(staging, ignore_errors=True)
    archive = keras.export.ExportArchive()
    archive.track(model)
    for name, (function, specs) in signature_endpoints(model, metadata).items():
        archive.add_endpoint(name, function, input_signature=specs)
    write_archive(archive, staging)
    metadata_path = staging / "assets.extra" / METADATA_FILE_NAME
    metadata_path.parent.mkdir(exist_ok=True)
    write_json_atomically(metadata_path, metadata, sort_keys=True)
    if warmup:
        write_warmup_requests(staging, model_name, metadata["input_size"])
    if version_dir.exists():
        shutil.rmtree(version_dir)
    staging.rename(version_dir)
    write_deployment_files(out_dir, model_name)
    logger.info("exported %s", version_dir)
    return version_dir
