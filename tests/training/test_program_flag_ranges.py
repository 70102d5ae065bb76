"""Every program refuses a number flag out of its range with argparse's
one-line error naming the flag (exit 2), before it reads or writes anything."""

import pytest

from evaluation import pckh
from evaluation import predict
from training import export
from training import make_tfrecords
from training import quickstart

CASES = [
    (make_tfrecords.parse_config, ["--format", "synthetic", "--out", "o"],
     "--seed", "-1"),
    (make_tfrecords.parse_config, ["--format", "synthetic", "--out", "o"],
     "--max-shard-mb", "nan"),
    (make_tfrecords.parse_config, ["--format", "synthetic", "--out", "o"],
     "--num-shards", "0"),
    (predict.parse_arguments, ["--model", "m", "--images", "a", "--out", "o"],
     "--batch-size", "0"),
    (pckh.parse_config, ["--gt", "g", "--pred", "p"],
     "--threshold", "nan"),
    (quickstart.parse_arguments, [], "--epochs", "0"),
    (export.parse_config, ["--model", "m", "--out", "o"], "--version", "-3"),
]  # fmt: skip


@pytest.mark.parametrize("parse, required, flag, value", CASES)
def test_a_number_out_of_range_is_one_line_naming_the_flag(
    parse, required, flag, value, capsys
):
    with pytest.raises(SystemExit) as stopped:
        parse([*required, flag, value])
    assert stopped.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert f"error: argument {flag}: {value!r}" in error[-1]
