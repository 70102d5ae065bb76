"""Paper-style result tables: pandas DataFrames, Markdown, CSV and JSON.

Columns, in percent: the paper's Head ... Ankle (Head is MPII's head top,
LSP's mean of neck and head top; the others the mean of left and right); Mean
over the scored joints, unweighted as Tompson's script prints; the
count-weighted total, HRNet's and mmpose's "Mean"; the mean over all joints.
"""

import math

import pandas as pd

from keras_hourglass.files import write_text_atomically

TOTAL_COLUMN = "Total (count-weighted)"
ALL_JOINTS_COLUMN = "Mean (all joints)"


def paper_table(summaries_by_model):
    """One row per model of {name: `PckSummary`}: the paper columns and means."""
    rows = {}
    for model_name, summary in summaries_by_model.items():
        row = dict(summary.groups)
        row[TOTAL_COLUMN] = summary.total_count_weighted
        row[ALL_JOINTS_COLUMN] = summary.mean_all_joints
        rows[model_name] = row
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("Model")


def per_joint_table(summary):
    """One row per joint: its value and how many annotated instances it has."""
    return pd.DataFrame(
        {summary.metric: summary.per_joint, "annotated": summary.joint_counts}
    ).rename_axis("Joint")


def _format_cell(value, float_format):
    if isinstance(value, float):
        return "-" if math.isnan(value) else float_format.format(value)
    return str(value).replace("|", "\\|")


def dataframe_to_markdown(table, float_format="{:.2f}"):
    """A GitHub Markdown table of `table`, numbers right-aligned, NaN as `-`."""
    header = [str(table.index.name or "")] + [str(name) for name in table.columns]
    numeric = [False] + [
        pd.api.types.is_numeric_dtype(table[name]) for name in table.columns
    ]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---:" if is_number else "---" for is_number in numeric) + "|",
    ]
    # itertuples keeps each column's type, so integer counts stay integers.
    for row in table.itertuples(index=True, name=None):
        cells = [_format_cell(value, float_format) for value in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_table_csv(table, path, decimals=4):
    """Writes `table` as CSV (index included), rounded to `decimals`."""
    write_text_atomically(path, table.round(decimals).to_csv())
    return path


def json_number(value):
    """`value` as a JSON number, NaN as null (JSON has no NaN)."""
    return float(value) if math.isfinite(value) else None


def summary_to_json_dict(summary):
    """The `--json` layout; `mean_16` is the unweighted mean over all joints."""
    return {
        "metric": summary.metric,
        "threshold": summary.threshold,
        "per_joint": {k: json_number(v) for k, v in summary.per_joint.items()},
        "groups": {k: json_number(v) for k, v in summary.groups.items()},
        "total_count_weighted": json_number(summary.total_count_weighted),
        "mean_16": json_number(summary.mean_all_joints),
    }


def format_console_report(summary, model_name="model"):
    """The paper table plus the per-joint table, as Markdown text."""
    title = f"{summary.metric}@{summary.threshold:g}"
    return (
        f"{title} (percent; Mean = unweighted over the scored joints)\n\n"
        + dataframe_to_markdown(paper_table({model_name: summary}))
        + "\n"
        + dataframe_to_markdown(per_joint_table(summary))
    )
