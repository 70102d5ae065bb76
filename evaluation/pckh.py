"""Scores a prediction file against ground truth and prints the paper table.

GT: any `evaluation.ground_truth` file; PRED: any `evaluation.prediction_files`
file, one person per ground-truth person, in the same order.
"""

import logging
import sys
from dataclasses import dataclass
from pathlib import Path

from evaluation.ground_truth import EvaluationInputError
from evaluation.ground_truth import read_ground_truth
from evaluation.metrics import PCK_METRICS
from evaluation.metrics import check_predictions
from evaluation.metrics import evaluate_metric
from evaluation.prediction_files import read_predictions
from evaluation.report import format_console_report
from evaluation.report import paper_table
from evaluation.report import summary_to_json_dict
from evaluation.report import write_table_csv
from keras_hourglass.files import write_json_atomically
from keras_hourglass.files import write_text_atomically
from training.cli_flags import add_dataclass_flags
from training.cli_flags import option
from training.cli_flags import program_parser
from training.programs import run_main


@dataclass
class PckhConfig:
    """The files to score, the metric and where the tables go."""

    gt: Path | None = option(None, "ground-truth file")
    pred: Path | None = option(None, "prediction file")
    json: Path | None = option(None, "write the results as JSON here")
    markdown: Path | None = option(None, "write the tables as Markdown")
    csv: Path | None = option(None, "write the paper table as CSV")
    metric: str = option(
        "pckh", "pckh: head-box normalised (MPII); pck: torso normalised (LSP); "
        "box-pck: normalised by the person box's larger side", PCK_METRICS,
    )  # fmt: skip
    threshold: float | None = option(
        None,
        "normalised-distance threshold (default 0.5 for pckh, 0.2 for pck, "
        "0.05 for box-pck)",
        above=0,
    )
    name: str = option("model", "model name in the table")


def parse_config(argv=None):
    """Parses `argv` into a `PckhConfig`."""
    parser = program_parser("evaluation.pckh", __doc__.split("\n")[0])
    add_dataclass_flags(parser, PckhConfig, required=("gt", "pred"))
    return PckhConfig(**vars(parser.parse_args(argv)))


def evaluate_files(gt_path, pred_path, metric="pckh", threshold=None):
    """The `PckSummary` of a prediction file against a ground-truth file."""
    ground_truth = read_ground_truth(gt_path)
    predictions = read_predictions(pred_path, num_joints=ground_truth.num_joints)
    # Checked here first so that errors name the prediction file.
    predictions = check_predictions(predictions, ground_truth, where=str(pred_path))
    return evaluate_metric(metric, predictions, ground_truth, threshold)


def main(argv=None):
    """Runs the command; returns the process exit status."""
    arguments = parse_config(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    try:
        summary = evaluate_files(
            arguments.gt, arguments.pred, arguments.metric, arguments.threshold
        )
        report = format_console_report(summary, arguments.name)
        print(report)
        if arguments.json:
            write_json_atomically(arguments.json, summary_to_json_dict(summary))
        if arguments.markdown:
            write_text_atomically(arguments.markdown, report)
        if arguments.csv:
            write_table_csv(paper_table({arguments.name: summary}), arguments.csv)
    except (EvaluationInputError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
