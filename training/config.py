"""The training configuration: one flat dataclass, its presets and checks.

`TrainConfig` defaults are the paper's recipe (Newell et al. 2016, sec. 5.1);
each field is a flag, applied over `--config run/config.json` or `--preset`.
"""

import dataclasses
import textwrap
from dataclasses import dataclass
from pathlib import Path

from keras_hourglass.files import JsonFileError
from keras_hourglass.files import read_json
from keras_hourglass.files import write_json_atomically
from keras_hourglass.model import check_model_arguments
from training.cli_flags import add_dataclass_flags
from training.cli_flags import option
from training.cli_flags import program_parser

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
OPTIMIZERS = ("rmsprop", "adam", "sgd")
VALIDATION_METRICS = ("auto", "pckh", "pck", "box-pck", "none")
STRATEGIES = ("auto", "mirrored")


@dataclass
class TrainConfig:
    """Everything one training run depends on; defaults are the paper's."""

    data_dir: str = option("data/mpii", "directory with dataset.json and shards")
    run_dir: str = option("runs/hourglass", "where config, logs, checkpoints go")
    # Model.
    n_stacks: int = option(8, "hourglasses stacked end to end")
    n_features: int = option(256, "channels through the hourglasses")
    n_modules: int = option(1, "residual modules per hourglass step")
    depth: int = option(4, "hourglass levels")
    input_size: int = option(256, "square input crop side in px")
    output_size: int = option(64, "heatmap side in px (input_size / 4)")
    intermediate_supervision: bool = option(True, "a loss on every stack")
    # Targets and augmentation (pose-hg-train).
    sigma: float = option(1.0, "heatmap Gaussian std in heatmap px")
    rotation_degrees: float = option(30.0, "max rotation, degrees")
    rotation_probability: float = option(0.4, "probability of rotating")
    scale_factor: float = option(0.25, "scale drawn in 1 +- this")
    flip_probability: float = option(0.5, "probability of a horizontal flip")
    color_low: float = option(0.6, "lowest per-channel colour gain")
    color_high: float = option(1.4, "highest per-channel colour gain")
    # Optimisation.
    optimizer: str = option("rmsprop", "optimizer", OPTIMIZERS)
    learning_rate: float = option(2.5e-4, "initial learning rate")
    batch_size: int = option(6, "GLOBAL batch size (split over replicas)")
    epochs: int = option(100, "epochs to train in total")
    steps_per_epoch: int = option(0, "steps per epoch; 0: one pass over train")
    lr_drop_factor: float = option(0.2, "learning-rate factor on a plateau")
    lr_drop_patience: int = option(5, "epochs without val PCKh gain before a drop")
    lr_drop_epochs: str = option(
        "", "1-based epochs from which the lr is x lr_drop_factor, e.g. '8,10' "
        "(a step schedule); empty: drop on validation plateaus",
    )  # fmt: skip
    min_learning_rate: float = option(1e-7, "learning rate floor")
    precision: str = option("float32", "dtype policy", PRECISIONS)
    jit_compile: bool = option(False, "compile train steps with XLA")
    remat: bool = option(
        False, "recompute each stack's activations in the backward pass: "
        "less memory per image, more time per step (training.remat)"
    )  # fmt: skip
    strategy: str = option(
        "auto", "mirrored over local devices; auto: default strategy on one",
        STRATEGIES,
    )  # fmt: skip
    # Fine-tuning (training.finetune).
    init_from: str = option(
        "", "start from this trained model's weights (.keras file, run directory "
        "or converted checkpoint); new joint heads when the joint count differs",
    )  # fmt: skip
    freeze_backbone_epochs: int = option(
        0, "with --init-from: train only the joint heads (heatmap heads and "
        "prediction remaps) for the first N epochs, then everything", minimum=0,
    )  # fmt: skip
    seed: int = option(0, "seed for shuffling, augmentation and weights")
    shuffle_buffer: int = option(1024, "record shuffle buffer")
    cache_records: bool = option(False, "cache raw records in memory")
    max_dropped_fraction: float = option(
        0.01, "stop if the first epoch loses or skips more than this share of "
        "the training records (damaged shards, invalid records, bad images)",
    )  # fmt: skip
    # Validation, logging, checkpoints.
    validation_people: int = option(256, "fixed validation subset for its PCK")
    validation_batches: int = option(0, "val-loss batches per epoch; 0: all")
    pckh_threshold: float = option(0.5, "PCKh threshold (x head normaliser)")
    validation_metric: str = option(
        "auto", "pckh (head boxes), pck (torso), box-pck (person box), none "
        "(val loss only), or auto: the first of pckh, pck, box-pck the data "
        "supports", VALIDATION_METRICS,
    )  # fmt: skip
    pck_threshold: float = option(0.2, "torso PCK threshold (x torso size)")
    box_pck_threshold: float = option(
        0.05, "box PCK threshold (x the person box's larger side)"
    )
    image_summaries: int = option(4, "validation samples drawn to TensorBoard")
    backup_every_steps: int = option(100, "mid-epoch crash backup every N steps")
    verbose: int = option(1, "Keras fit verbosity (0, 1, 2)")
    export: bool = option(True, "export a SavedModel to run_dir/export/1 at the end")


PRESETS = {
    "paper": {},
    # The README's main command: 80%+ PCKh@0.5 on the synthetic data in minutes
    # on a 2-core CPU: small crops, no rotation (the figures are drawn rotated),
    # Adam at 2e-3 (fastest in a short run) with one drop for the last epoch.
    "demo": {
        "data_dir": "data/synthetic",
        "run_dir": "runs/demo",
        "n_stacks": 2,
        "n_features": 64,
        "depth": 3,
        "input_size": 96,
        "output_size": 24,
        "sigma": 1.25,
        "rotation_probability": 0.0,
        "optimizer": "adam",
        "learning_rate": 2e-3,
        "batch_size": 16,
        "epochs": 8,
        "steps_per_epoch": 90,
        "lr_drop_epochs": "8",
        "validation_people": 128,
        "validation_batches": 4,
        "backup_every_steps": 25,
        "shuffle_buffer": 512,
    },
}


class ConfigError(ValueError):
    """A configuration that cannot run, with a message meant for the user."""


def config_from_preset(name, **overrides):
    """Returns the `TrainConfig` of preset `name`, updated with `overrides`."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return replace_fields(TrainConfig(**PRESETS[name]), overrides)


def replace_fields(config, overrides):
    """Returns a copy of `config` with `overrides`; unknown names raise."""
    known = {item.name for item in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ConfigError(f"unknown config field(s) {unknown}")
    return dataclasses.replace(config, **overrides)


def save_config(config, path):
    """Writes the config as indented JSON."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomically(path, dataclasses.asdict(config))


def load_config(path):
    """Reads a config written by `save_config` (ConfigError for bad files)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        values = read_json(path, what="config file")
    except JsonFileError as error:
        raise ConfigError(str(error)) from None
    if not isinstance(values, dict):
        raise ConfigError(f"config file {path} must hold a JSON object")
    try:
        return replace_fields(TrainConfig(), values)
    except ConfigError as error:
        raise ConfigError(f"config file {path}: {error}") from None


def _problems(config):
    """Yields one message per invalid value (not touching the file system)."""
    try:
        # The joint count comes from the dataset; any valid count checks the rest.
        check_model_arguments(
            config.n_stacks, 1, config.n_features, config.n_modules, config.depth,
            (config.input_size, config.input_size, 3),
        )  # fmt: skip
    except ValueError as error:
        yield str(error)
    positive = (
        "output_size", "learning_rate", "batch_size", "epochs", "sigma",
        "lr_drop_patience", "backup_every_steps", "pckh_threshold", "pck_threshold",
        "box_pck_threshold",
    )  # fmt: skip
    for name in positive:
        if not getattr(config, name) > 0:
            yield f"{name} must be > 0, got {getattr(config, name)}"
    non_negative = (
        "steps_per_epoch", "validation_people", "validation_batches",
        "image_summaries", "shuffle_buffer", "rotation_degrees", "scale_factor",
        "min_learning_rate", "freeze_backbone_epochs",
    )  # fmt: skip
    for name in non_negative:
        if not getattr(config, name) >= 0:
            yield f"{name} must be >= 0, got {getattr(config, name)}"
    for name in ("rotation_probability", "flip_probability", "max_dropped_fraction"):
        if not 0.0 <= getattr(config, name) <= 1.0:
            yield f"{name} must be in [0, 1], got {getattr(config, name)}"
    if config.freeze_backbone_epochs and not config.init_from:
        yield (
            "freeze_backbone_epochs needs init_from: only a pretrained backbone "
            "is worth freezing"
        )
    if not 0.0 < config.lr_drop_factor < 1.0:
        yield f"lr_drop_factor must be in (0, 1), got {config.lr_drop_factor}"
    try:
        parse_drop_epochs(config.lr_drop_epochs)
    except ValueError as error:
        yield str(error)
    if not 0.0 < config.color_low <= config.color_high:
        yield "need 0 < color_low <= color_high"
    if config.validation_metric not in VALIDATION_METRICS:
        yield f"validation_metric must be one of {VALIDATION_METRICS}"
    if config.input_size != 4 * config.output_size:
        yield (
            f"output_size must be input_size / 4 (the network downsamples by 4): "
            f"input_size {config.input_size}, output_size {config.output_size}"
        )
    if config.precision not in PRECISIONS:
        yield f"precision must be one of {PRECISIONS}, got {config.precision!r}"
    if config.optimizer not in OPTIMIZERS:
        yield f"optimizer must be one of {OPTIMIZERS}, got {config.optimizer!r}"


def parse_drop_epochs(text):
    """Returns the ascending 1-based epochs of `lr_drop_epochs` ("8,10")."""
    if not text.strip():
        return ()
    try:
        epochs = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ValueError(
            f"lr_drop_epochs must be comma-separated epoch numbers, got {text!r}"
        ) from None
    if any(epoch < 1 for epoch in epochs) or list(epochs) != sorted(set(epochs)):
        raise ValueError(
            f"lr_drop_epochs must be ascending epoch numbers >= 1, got {text!r}"
        )
    return epochs


def scheduled_learning_rate(config, epoch):
    """The step schedule's learning rate for 0-based `epoch`."""
    drop_epochs = parse_drop_epochs(config.lr_drop_epochs)
    drops = sum(1 for first in drop_epochs if first <= epoch + 1)
    rate = config.learning_rate * config.lr_drop_factor**drops
    return max(rate, config.min_learning_rate)


def validate_config(config):
    """Raises `ConfigError` listing every invalid value of `config`."""
    problems = list(_problems(config))
    if problems:
        raise ConfigError("invalid training config: " + "; ".join(problems))
    return config


def check_replica_batch(config, num_replicas):
    """Raises `ConfigError` unless the global batch splits evenly over replicas."""
    if config.batch_size % num_replicas:
        raise ConfigError(
            f"batch_size {config.batch_size} is not divisible by the "
            f"{num_replicas} replicas; use a multiple of {num_replicas}"
        )


def shown_value(value):
    """A field value as `--help` shows it: empty or spaced text quoted."""
    if isinstance(value, str) and (not value or any(c.isspace() for c in value)):
        return repr(value)
    return str(value)


def describe_presets(width=79):
    """The `--help` epilog: each preset with the fields it changes."""
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
                f"{name}: {text}", width, initial_indent="  ",
                subsequent_indent="    ", break_long_words=False,
                break_on_hyphens=False,
            )  # fmt: skip
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


def parse_config(argv=None):
    """Parses `argv` into a validated `TrainConfig` (`parser.error` if not)."""
    parser = build_argument_parser()
    values = vars(parser.parse_args(argv))
    preset, config_path = values.pop("preset"), values.pop("config")
    overrides = {name: value for name, value in values.items() if value is not None}
    try:
        if config_path is not None:
            config = replace_fields(load_config(config_path), overrides)
        else:
            config = config_from_preset(preset or "paper", **overrides)
        return validate_config(config)
    except ConfigError as error:
        parser.error(str(error))
