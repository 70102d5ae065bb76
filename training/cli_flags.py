"""Command-line flags derived from a program's config dataclass: each field
`some_name` (with its `option` help) becomes `--some-name`, and the parsed flags
make the config, `Config(**vars(parser.parse_args(argv)))`.
"""

import argparse
import dataclasses
import math
import types
import typing

from training.environment import STARTUP_LINES_HELP
from training.programs import program_name


def program_parser(module_name, description, epilog=""):
    """The parser of program `module_name`, its usage line naming the program
    as it was started; the epilog ends saying how to show TensorFlow's logs."""
    return argparse.ArgumentParser(
        prog=program_name(module_name),
        description=description,
        epilog="\n\n".join(part for part in (epilog, STARTUP_LINES_HELP) if part),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def option(default, help_text="", choices=None, minimum=None, above=None,
           repeatable=False):  # fmt: skip
    """A dataclass field carrying its flag's help and `choices`, `minimum`
    (inclusive) or `above` bound; a `repeatable` list flag (default None)
    adds the values of every use."""
    metadata = {"help": help_text, "minimum": minimum, "above": above,
                "repeatable": repeatable}  # fmt: skip
    if choices is not None:
        metadata["choices"] = choices
    return dataclasses.field(default=default, metadata=metadata)


def checked_number(kind, minimum=None, above=None):
    """The argparse `type` of a number flag: refuses NaN, infinities and
    values out of range with argparse's one-line error."""

    def parse(text):
        value = kind(text)
        if isinstance(value, float) and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        if minimum is not None and value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r} is below {minimum}")
        if above is not None and value <= above:
            raise argparse.ArgumentTypeError(f"{text!r} must be above {above}")
        return value

    parse.__name__ = kind.__name__  # argparse's "invalid int value" names it
    return parse


def flag_type(annotation):
    """The argparse `type` and `nargs` of a field annotation: `float | None`
    -> `(float, None)`, `list[str] | None` -> `(str, "+")`."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        kinds = typing.get_args(annotation)
        annotation = next(kind for kind in kinds if kind is not type(None))
    if typing.get_origin(annotation) is list:
        return typing.get_args(annotation)[0], "+"
    return annotation, None


def add_dataclass_flags(
    parser, config_class, unset_defaults=False, required=(), default_label=None,
    one_of=(),
):  # fmt: skip
    """Adds one flag per field of `config_class` to `parser`; returns it.
    With `unset_defaults` every flag defaults to None, so the flags given can
    be told from a preset's or a config file's values; `required` fields
    must be given, exactly one of `one_of`."""
    hints = typing.get_type_hints(config_class)
    exclusive = parser.add_mutually_exclusive_group(required=True) if one_of else None
    for config_field in dataclasses.fields(config_class):
        help_text = config_field.metadata.get("help", "")
        if default_label is not None:
            help_text += f" ({default_label}: {config_field.default})"
        common = {
            "dest": config_field.name,
            "default": None if unset_defaults else config_field.default,
            "help": help_text,
        }
        flag = "--" + config_field.name.replace("_", "-")
        target = exclusive if config_field.name in one_of else parser
        kind, nargs = flag_type(hints[config_field.name])
        if kind is bool:
            target.add_argument(flag, action=argparse.BooleanOptionalAction, **common)
            continue
        if kind in (int, float):
            kind = checked_number(
                kind,
                config_field.metadata.get("minimum"),
                config_field.metadata.get("above"),
            )
        if config_field.metadata.get("repeatable"):
            common["action"] = "extend"
        target.add_argument(
            flag,
            type=kind,
            nargs=nargs,
            required=config_field.name in required,
            choices=config_field.metadata.get("choices"),
            **common,
        )
    return parser
