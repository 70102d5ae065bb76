"""Paper tables as DataFrames, the hand-written Markdown formatter, CSV, JSON."""

import json

import numpy as np
import pandas as pd
import pytest

from evaluation.metrics import summarize
from evaluation.report import ALL_JOINTS_COLUMN
from evaluation.report import TOTAL_COLUMN
from evaluation.report import dataframe_to_markdown
from evaluation.report import format_console_report
from evaluation.report import paper_table
from evaluation.report import per_joint_table
from evaluation.report import summary_to_json_dict
from evaluation.report import write_table_csv


def mpii_summary():
    """Per-joint values 0, 6, ..., 90 (joint 5 never annotated)."""
    values = np.arange(16) * 6.0
    values[5] = np.nan
    counts = np.full(16, 4)
    counts[5] = 0
    names = [f"j{index}" for index in range(16)]
    return summarize(values, counts, names, "PCKh", 0.5)


def test_dataframe_to_markdown_exact_text():
    table = pd.DataFrame(
        {"score": [1.0, np.nan], "count": [3, 4], "note": ["a|b", "c"]},
        index=pd.Index(["x", "y"], name="row"),
    )
    expected = (
        "| row | score | count | note |\n"
        "|---|---:|---:|---|\n"
        "| x | 1.00 | 3 | a\\|b |\n"
        "| y | - | 4 | c |\n"
    )
    assert dataframe_to_markdown(table) == expected


def test_paper_table_columns_and_values():
    table = paper_table({"hg8": mpii_summary()})
    assert list(table.columns) == [
        "Head",
        "Shoulder",
        "Elbow",
        "Wrist",
        "Hip",
        "Knee",
        "Ankle",
        "Mean",
        TOTAL_COLUMN,
        ALL_JOINTS_COLUMN,
    ]
    row = table.loc["hg8"]
    assert row["Head"] == 54.0  # joint 9 only
    assert row["Shoulder"] == 75.0  # joints 12 and 13
    assert row["Ankle"] == 0.0  # joint 0; joint 5 has no annotations
    kept = [0, 1, 2, 3, 4, 8, 9, 10, 11, 12, 13, 14, 15]
    assert row["Mean"] == pytest.approx(np.mean(np.array(kept) * 6.0))
    assert row[TOTAL_COLUMN] == pytest.approx(row["Mean"])  # equal counts


def test_per_joint_table_and_markdown_keep_counts_integer():
    text = dataframe_to_markdown(per_joint_table(mpii_summary()))
    assert "| j3 | 18.00 | 4 |" in text
    assert "| j5 | - | 0 |" in text


def test_csv_round_trip(tmp_path):
    table = paper_table({"a": mpii_summary(), "b": mpii_summary()})
    path = write_table_csv(table, tmp_path / "table.csv")
    back = pd.read_csv(path, index_col="Model")
    pd.testing.assert_frame_equal(back, table.round(4), check_names=False)


def test_json_layout_writes_null_for_never_annotated_joints():
    layout = summary_to_json_dict(mpii_summary())
    assert set(layout) >= {"per_joint", "groups", "total_count_weighted", "mean_16"}
    assert layout["per_joint"]["j5"] is None
    assert layout["groups"]["Head"] == 54.0
    assert layout["mean_16"] == pytest.approx(np.mean(np.delete(np.arange(16), 5)) * 6)
    json.dumps(layout, allow_nan=False)  # strict JSON


def test_console_report_has_title_and_both_tables():
    text = format_console_report(mpii_summary(), "hg8")
    assert text.startswith("PCKh@0.5")
    assert "| hg8 | 54.00 |" in text and "| Joint | PCKh | annotated |" in text
