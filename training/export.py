"""Exports a trained hourglass for serving: a versioned SavedModel for TF
Serving, and/or the network alone as a LiteRT or ONNX file.

    python -m training.export --model runs/demo --out exports/hourglass
    python -m training.export --model runs/demo/final.keras --out exports/hourglass \
        --version 3 --joint-set mpii --model-name hourglass
    python -m training.export --model runs/demo --out exports/hourglass \
        --format litert --quantize int8 --calibration-data data/synthetic

`saved_model` writes `OUT/<version>/` and the `tensorflow_model_server` files
beside it; `litert` writes `OUT/<model-name>_heatmaps[_<quantize>].tflite` and
`onnx` `OUT/<model-name>_heatmaps.onnx`: the `heatmaps` signature plus crop and
decode metadata.
"""

import logging
import sys
from dataclasses import dataclass
from pathlib import Path

from evaluation.run_directory import load_program_model
from keras_hourglass.serving.export import export_saved_model
from keras_hourglass.serving.heatmap_files import QUANTIZATIONS
from keras_hourglass.serving.heatmap_files import calibration_crops
from keras_hourglass.serving.heatmap_files import export_litert
from keras_hourglass.serving.heatmap_files import export_onnx
from training.cli_flags import add_dataclass_flags
from training.cli_flags import option
from training.cli_flags import program_parser
from training.folder_lock import ExportFolderLocked
from training.folder_lock import lock_export_folder
from training.programs import run_main

logger = logging.getLogger("training.export")
FORMATS = ("saved_model", "litert", "onnx")


@dataclass
class ExportConfig:
    """Everything one export depends on."""

    model: str = option("", "a .keras file or a training run directory")
    out: str = option("", "model base path (MODEL_DIR)")
    version: int | None = option(None, "default: highest existing + 1", minimum=0)
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
    format: list[str] | None = option(
        None, "saved_model, litert and/or onnx, e.g. saved_model,litert "
        "(default: saved_model); repeatable", repeatable=True,
    )  # fmt: skip
    quantize: str = option("float32", "litert: weights (and int8: activations)",
                           QUANTIZATIONS)  # fmt: skip
    calibration_data: str = option(
        "", "int8: TFRecord dataset folder whose training crops calibrate it"
    )
    calibration_examples: int = option(200, "int8: crops to calibrate on", minimum=1)
    overwrite: bool = option(False, "replace an existing version or LiteRT/ONNX file")


def parse_config(argv=None):
    """Parses `argv` into an `ExportConfig`; `--format a,b --format c` gives
    `("a", "b", "c")` (default: the SavedModel alone)."""
    parser = program_parser("training.export", __doc__.split("\n\n")[0])
    add_dataclass_flags(parser, ExportConfig, required=("model", "out"))
    config = ExportConfig(**vars(parser.parse_args(argv)))
    names = [name.strip() for value in config.format or ["saved_model"]
             for name in value.split(",") if name.strip()]  # fmt: skip
    config.format = tuple(dict.fromkeys(names))
    unknown = [name for name in config.format if name not in FORMATS]
    if unknown or not config.format:
        parser.error(
            f"--format: {', '.join(unknown) or 'nothing'} is not one of {FORMATS}"
        )
    if config.quantize != "float32" and "litert" not in config.format:
        parser.error("--quantize applies to --format litert only")
    if config.quantize == "int8" and not config.calibration_data:
        parser.error(
            "--quantize int8 needs --calibration-data DIR (a TFRecord dataset)"
        )
    return config


def heatmap_file_paths(config):
    """{format: path} of the LiteRT and ONNX files the export writes."""
    quantized = "" if config.quantize == "float32" else f"_{config.quantize}"
    names = {"litert": f"heatmaps{quantized}.tflite", "onnx": "heatmaps.onnx"}
    return {
        name: Path(config.out) / f"{config.model_name}_{file_name}"
        for name, file_name in names.items()
        if name in config.format
    }


def export_formats(config, model):
    """Writes every requested format; returns the written paths. A file it
    would replace without `--overwrite` is refused before anything is written."""
    paths = heatmap_file_paths(config)
    for path in paths.values():
        if path.exists() and not config.overwrite:
            raise FileExistsError(f"{path} exists: pass --overwrite to replace it")
    written = []
    if "saved_model" in config.format:
        written.append(
            export_saved_model(
                model, config.out, version=config.version,
                joint_set=config.joint_set, fold_batch_norm=config.fold_batch_norm,
                flip_test=config.flip_test, model_name=config.model_name,
                warmup=config.warmup, overwrite=config.overwrite,
            )  # fmt: skip
        )
    common = {"joint_set": config.joint_set,
              "fold_batch_norm": config.fold_batch_norm}  # fmt: skip
    Path(config.out).mkdir(parents=True, exist_ok=True)
    if "litert" in config.format:
        crops = None
        if config.quantize == "int8":
            crops = calibration_crops(
                config.calibration_data, config.calibration_examples,
                model.input_size, model.crop_convention,
            )  # fmt: skip
        written.append(
            export_litert(model, paths["litert"], config.quantize, crops, **common)
        )
    if "onnx" in config.format:
        written.append(export_onnx(model, paths["onnx"], **common))
    return written


def main(argv=None):
    """Runs the export; returns the process exit code."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    config = parse_config(argv)
    try:
        model = load_program_model(config.model)
        # Concurrent exports into one --out take turns (own version and files).
        with lock_export_folder(config.out):
            written = export_formats(config, model)
    except (
        FileNotFoundError, FileExistsError, ValueError, ExportFolderLocked
    ) as error:  # fmt: skip
        logger.error("%s", error)
        return 2
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
