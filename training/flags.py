"""Command-line flags derived from the fields of `TrainConfig`.

Every field `some_name` becomes `--some-name` (booleans also get
`--no-some-name`). Resolution order: `--config run/config.json` or the
`--preset` (default `paper`), then every flag given on the command line.
"""

import textwrap

from training.cli_flags import add_dataclass_flags
from training.cli_flags import program_parser
from training.config import PRESETS
from training.config import ConfigError
from training.config import TrainConfig
from training.config import config_from_preset
from training.config import load_config
from training.config import replace_fields
from training.config import validate_config


def shown_value(value):
    """A field value as `--help` shows it: empty or spaced text quoted."""
    if isinstance(value, str) and (not value or any(c.isspace() for c in value)):
        return repr(value)
    return str(value)


def describe_presets(width=79):
    """The `--help` epilog: each preset of `PRESETS` with the fields it sets
    to other values than the paper's defaults ("demo: n_stacks=2 ...")."""
    defaults = TrainConfig()
    paragraphs = ["presets (the fields each one changes from the paper defaults):"]
    for name, values in PRESETS.items():
        changed = [
            f"{field}={shown_value(value)}"
            for field, value in values.items()
            if value != getattr(defaults, field)
        ]
        text = " ".join(changed) or "(the paper defaults)"
        paragraphs.append(
            textwrap.fill(
                f"{name}: {text}",
                width,
                initial_indent="  ",
                subsequent_indent="    ",
                break_long_words=False,
                break_on_hyphens=False,
            )
        )
    return "\n".join(paragraphs)


def build_argument_parser():
    """The parser of `python -m training.train` (`hourglass-train`)."""
    parser = program_parser(
        "training.train", "Train a stacked hourglass network.", describe_presets()
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--preset",
        default=None,
        help=f"starting configuration, one of {sorted(PRESETS)} (default paper; "
        "the values of each are listed below)",
    )
    source.add_argument(
        "--config", default=None, help="a config.json written by an earlier run"
    )
    # Unset flags stay None, so that only the flags given override the preset.
    return add_dataclass_flags(
        parser, TrainConfig, unset_defaults=True, default_label="paper"
    )


def resolve_config(arguments):
    """Returns the validated `TrainConfig` of parsed `arguments`."""
    values = vars(arguments).copy()
    preset = values.pop("preset")
    config_path = values.pop("config")
    overrides = {name: value for name, value in values.items() if value is not None}
    if config_path is not None:
        config = replace_fields(load_config(config_path), overrides)
    else:
        config = config_from_preset(preset or "paper", **overrides)
    return validate_config(config)


def parse_config(argv=None):
    """Parses `argv` into a validated `TrainConfig`.

    Invalid values exit through `parser.error` (status 2, one clear line).
    """
    parser = build_argument_parser()
    arguments = parser.parse_args(argv)
    try:
        return resolve_config(arguments)
    except ConfigError as error:
        parser.error(str(error))
