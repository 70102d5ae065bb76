"""Exports a trained hourglass as a versioned SavedModel for TF Serving.

    python -m training.export --model runs/demo --out exports/hourglass
    python -m training.export --model runs/demo/final.keras --out exports/hourglass \
        --version 3 --joint-set mpii --model-name hourglass

Writes `OUT/<version>/` (SavedModel with the `serving_default`,
`whole_image`, `heatmaps` and `metadata` signatures, plus
`assets.extra/metadata.json` and warm-up requests), and `OUT/models.config`
and `OUT/batching_parameters.txt` for `tensorflow_model_server`; with
`--tflite` also `OUT/hourglass_heatmaps.tflite` (the `heatmaps` signature).
"""

import logging
import sys
from dataclasses import dataclass

from evaluation.run_directory import load_program_model
from keras_hourglass.serving.export import export_saved_model
from keras_hourglass.serving.export import export_tflite
from training.cli_flags import add_dataclass_flags
from training.cli_flags import option
from training.cli_flags import program_parser
from training.folder_lock import ExportFolderLocked
from training.folder_lock import lock_export_folder
from training.programs import run_main

logger = logging.getLogger("training.export")


@dataclass
class ExportConfig:
    """Everything one export depends on."""

    model: str = option("", "a .keras file or a training run directory")
    out: str = option("", "model base path (MODEL_DIR)")
    version: int | None = option(
        None, "default: highest existing + 1", minimum=0
    )
    joint_set: str | None = option(
        None, "default: the run's dataset.json, else the set with the model's K",
        ("mpii", "lsp", "coco"),
    )  # fmt: skip
    model_name: str = option("hourglass", "served name")
    flip_test: bool = option(True, "test-time flip in the graph")
    warmup: bool = option(True, "write a warm-up file")
    fold_batch_norm: bool = option(
        True, "fold the batch norms into convolutions (no: serve them as trained)"
    )
    tflite: bool = option(False, "also write the heatmaps as TFLite")
    overwrite: bool = option(False, "replace an existing version")


def parse_config(argv=None):
    """Parses `argv` into an `ExportConfig`."""
    parser = program_parser("training.export", __doc__.split("\n\n")[0])
    add_dataclass_flags(parser, ExportConfig, required=("model", "out"))
    return ExportConfig(**vars(parser.parse_args(argv)))


def main(argv=None):
    """Runs the export; returns the process exit code."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    config = parse_config(argv)
    try:
        model = load_program_model(config.model)
        # Concurrent exports into one --out take turns, so each gets its own
        # version number and staging folder.
        with lock_export_folder(config.out):
            version_dir = export_saved_model(
                model,
                config.out,
                version=config.version,
                joint_set=config.joint_set,
                fold_batch_norm=config.fold_batch_norm,
                flip_test=config.flip_test,
                model_name=config.model_name,
                warmup=config.warmup,
                overwrite=config.overwrite,
            )
            print(version_dir)
            if config.tflite:
                print(export_tflite(version_dir))
    except (
        FileNotFoundError, FileExistsError, ValueError, ExportFolderLocked
    ) as error:  # fmt: skip
        logger.error("%s", error)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
