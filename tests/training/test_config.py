"""`TrainConfig`, its presets, the flags derived from its fields, JSON round
trip, and the errors bad values give."""

import dataclasses

import pytest

from training.builders import check_data_dir
from training.config import PRESETS
from training.config import ConfigError
from training.config import TrainConfig
from training.config import build_argument_parser
from training.config import check_replica_batch
from training.config import config_from_preset
from training.config import load_config
from training.config import parse_config
from training.config import save_config
from training.config import scheduled_learning_rate
from training.config import validate_config


def test_paper_preset_is_the_paper_recipe():
    config = parse_config([])
    assert (config.n_stacks, config.n_features) == (8, 256)
    assert (config.input_size, config.output_size) == (256, 64)
    assert config.optimizer == "rmsprop" and config.learning_rate == 2.5e-4
    assert config.batch_size == 6 and config.sigma == 1.0
    assert config.lr_drop_factor == 0.2
    assert config.rotation_degrees == 30.0 and config.scale_factor == 0.25


def test_demo_preset_is_small_and_valid():
    config = validate_config(config_from_preset("demo"))
    assert config.n_stacks == 2 and config.n_features <= 128
    assert config.input_size == 4 * config.output_size <= 128
    assert 16 <= config.batch_size <= 32


def test_every_field_is_a_flag():
    parser = build_argument_parser()
    flags = {option for action in parser._actions for option in action.option_strings}
    for config_field in dataclasses.fields(TrainConfig):
        assert "--" + config_field.name.replace("_", "-") in flags


def test_command_line_overrides_the_preset():
    config = parse_config(
        ["--preset", "demo", "--learning-rate", "0.01", "--no-intermediate-supervision",
         "--precision", "mixed_bfloat16", "--jit-compile"]
    )  # fmt: skip
    assert config.n_stacks == 2  # from the preset
    assert config.learning_rate == 0.01
    assert config.intermediate_supervision is False
    assert config.precision == "mixed_bfloat16" and config.jit_compile is True


def test_config_json_round_trip_and_reload_with_overrides(tmp_path):
    config = parse_config(["--preset", "demo", "--epochs", "7"])
    save_config(config, tmp_path / "config.json")
    assert load_config(tmp_path / "config.json") == config
    again = parse_config(["--config", str(tmp_path / "config.json"), "--seed", "9"])
    assert again == dataclasses.replace(config, seed=9)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--preset", "nope"], "unknown preset 'nope'"),
        (["--learning-rate", "-1"], "learning_rate must be > 0"),
        (["--batch-size", "0"], "batch_size must be > 0"),
        (["--input-size", "128"], "output_size must be input_size / 4"),
        (["--precision", "float16"], "invalid choice"),
        (["--epochs", "two"], "invalid int value"),
        (["--no-such-flag"], "unrecognized arguments"),
        (["--lr-drop-epochs", "5,3"], "lr_drop_epochs must be ascending"),
        (["--lr-drop-epochs", "5;7"], "lr_drop_epochs must be comma-separated"),
    ],
)
def test_bad_flags_exit_with_a_clear_message(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse_config(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_bad_config_files_are_named(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ConfigError, match="bad.json is not valid JSON"):
        load_config(tmp_path / "bad.json")
    (tmp_path / "unknown.json").write_text('{"stacks": 3}')
    with pytest.raises(ConfigError, match="unknown config field"):
        load_config(tmp_path / "unknown.json")


def test_missing_data_dir_and_indivisible_batch(tmp_path):
    config = TrainConfig(data_dir=str(tmp_path / "absent"))
    with pytest.raises(ConfigError, match="does not exist.*make_tfrecords"):
        check_data_dir(config)
    with pytest.raises(ConfigError, match="no dataset.json"):
        check_data_dir(TrainConfig(data_dir=str(tmp_path)))
    with pytest.raises(ConfigError, match="not divisible by the 4 replicas"):
        check_replica_batch(TrainConfig(batch_size=6), 4)
    check_replica_batch(TrainConfig(batch_size=6), 2)


def test_step_schedule_drops_from_the_given_one_based_epochs():
    config = config_from_preset(
        "demo", learning_rate=1e-3, lr_drop_factor=0.1, lr_drop_epochs="3,5",
        min_learning_rate=2e-6,
    )  # fmt: skip
    rates = [scheduled_learning_rate(config, epoch) for epoch in range(6)]
    assert rates == pytest.approx([1e-3, 1e-3, 1e-4, 1e-4, 1e-5, 1e-5])
    floored = dataclasses.replace(config, lr_drop_epochs="1,2,3")
    assert scheduled_learning_rate(floored, 5) == pytest.approx(2e-6)


def test_help_lists_every_preset_with_the_values_it_changes(capsys):
    with pytest.raises(SystemExit):
        parse_config(["--help"])
    shown = capsys.readouterr().out
    epilog = shown.split("presets (", 1)[1]
    # "  demo: a=1 b=2\n    c=3\n  paper: ...": one entry per preset.
    entries = {}
    for line in epilog.splitlines()[1:]:
        if line.startswith("    "):
            entries[list(entries)[-1]] += line.split()
        elif line.startswith("  ") and ":" in line:
            preset, rest = line.strip().split(":", 1)
            entries[preset] = rest.split()
        else:
            break
    assert set(entries) == set(PRESETS)
    fields = {field.name: field for field in dataclasses.fields(TrainConfig)}
    for name, values in PRESETS.items():
        shown_values = dict(item.split("=", 1) for item in entries[name] if "=" in item)
        changed = {
            field: value
            for field, value in values.items()
            if value != fields[field].default
        }
        assert set(shown_values) == set(changed), name
        for field, value in changed.items():
            kind = type(fields[field].default)
            assert kind(shown_values[field]) == value, (name, field)
    assert entries["paper"] == ["(the", "paper", "defaults)"]
