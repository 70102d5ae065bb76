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

from evaluation.run_directory import crop_convention_for_run
from evaluation.run_directory import load_run_model
from keras_hourglass.serving.export import export_saved_model
from keras_hourglass.serving.export import export_tflite
from training.cli_flags import program_parser

logger = logging.getLogger("training.export")


def parse_arguments(argv):
    parser = program_parser("training.export", __doc__.split("\n\n")[0])
    parser.add_argument(
        "--model", required=True, help="a .keras file or a training run directory"
    )
    parser.add_argument("--out", required=True, help="model base path (MODEL_DIR)")
    parser.add_argument(
        "--version", type=int, default=None, help="default: highest existing + 1"
    )
    parser.add_argument(
        "--joint-set",
        choices=("mpii", "lsp", "coco"),
        default=None,
        help="default: the run's dataset.json, else the set with the model's K",
    )
    parser.add_argument("--model-name", default="hourglass", help="served name")
    parser.add_argument(
        "--no-flip-test", action="store_true", help="no test-time flip in the graph"
    )
    parser.add_argument("--no-warmup", action="store_true", help="no warm-up file")
    parser.add_argument(
        "--no-fold-batch-norm",
        action="store_true",
        help="serve the batch norms as trained instead of folded into convolutions",
    )
    parser.add_argument(
        "--tflite", action="store_true", help="also write the heatmaps as TFLite"
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an existing version"
    )
    return parser.parse_args(argv)


def main(argv=None):
    """Runs the export; returns the process exit code."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    args = parse_arguments(argv)
    try:
        model, run_joint_set = load_run_model(args.model)
        version_dir = export_saved_model(
            model,
            args.out,
            version=args.version,
            joint_set=args.joint_set or run_joint_set,
            fold_batch_norm=not args.no_fold_batch_norm,
            flip_test=not args.no_flip_test,
            model_name=args.model_name,
            warmup=not args.no_warmup,
            overwrite=args.overwrite,
            crop_convention=crop_convention_for_run(args.model),
        )
    except (FileNotFoundError, FileExistsError, ValueError) as error:
        logger.error("%s", error)
        return 2
    print(version_dir)
    if args.tflite:
        print(export_tflite(version_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
