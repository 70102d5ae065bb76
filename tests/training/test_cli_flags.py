"""Flags derived from a config dataclass: one flag per field, typed by its
annotation, with its help, choices and default."""

import argparse
from dataclasses import dataclass
from pathlib import Path

import pytest

from training.cli_flags import add_dataclass_flags
from training.cli_flags import option


@dataclass
class ExampleConfig:
    model: str = option("", "the model")
    images: list[str] | None = option(None, "image files")
    video: str | None = option(None, "a video")
    threshold: float | None = option(None, "a threshold")
    report: Path | None = option(None, "where the report goes")
    metric: str = option("pckh", "the metric", ("pckh", "pck"))
    flip_test: bool = option(True, "test-time flip")


def parse(argv):
    parser = add_dataclass_flags(
        argparse.ArgumentParser(), ExampleConfig, required=("model",),
        one_of=("images", "video"),
    )  # fmt: skip
    return ExampleConfig(**vars(parser.parse_args(argv)))


def test_fields_become_typed_flags_with_their_defaults():
    config = parse(["--model", "m", "--images", "a.jpg", "b.jpg", "--threshold",
                    "0.5", "--report", "out.md", "--no-flip-test"])  # fmt: skip
    assert config == ExampleConfig(
        model="m", images=["a.jpg", "b.jpg"], threshold=0.5,
        report=Path("out.md"), flip_test=False,
    )  # fmt: skip
    assert parse(["--model", "m", "--video", "v.mp4"]).flip_test


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--images", "a.jpg"], "the following arguments are required: --model"),
        (["--model", "m"], "one of the arguments --images --video is required"),
        (["--model", "m", "--images", "a.jpg", "--video", "v.mp4"],
         "not allowed with argument"),
        (["--model", "m", "--video", "v", "--metric", "ap"], "invalid choice: 'ap'"),
        (["--model", "m", "--video", "v", "--threshold", "x"], "invalid float"),
    ],
)  # fmt: skip
def test_user_mistakes_exit_with_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@dataclass
class BoundedConfig:
    batch_size: int = option(8, "crops per batch", minimum=1)
    threshold: float = option(0.5, "hit threshold", above=0)
    rate: float = option(1.0, "any finite number")


@pytest.mark.parametrize(
    "argv",
    [["--batch-size", "0"], ["--threshold", "0"], ["--threshold", "-0.5"],
     ["--rate", "nan"], ["--rate", "inf"], ["--batch-size", "two"]],
)  # fmt: skip
def test_numbers_out_of_range_stop_with_one_line_naming_the_flag(argv, capsys):
    parser = add_dataclass_flags(argparse.ArgumentParser(), BoundedConfig)
    with pytest.raises(SystemExit) as stopped:
        parser.parse_args(argv)
    assert stopped.value.code == 2
    error_line = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"argument {argv[0]}" in error_line and argv[1] in error_line


def test_numbers_in_range_pass_unchanged():
    parser = add_dataclass_flags(argparse.ArgumentParser(), BoundedConfig)
    arguments = parser.parse_args(["--batch-size", "1", "--threshold", "1e-3",
                                   "--rate", "-2"])  # fmt: skip
    assert BoundedConfig(**vars(arguments)) == BoundedConfig(1, 1e-3, -2.0)
