"""The training program end to end on real TFRecord shards (a tiny model)."""

import csv
import json

import keras
import numpy as np
import pytest

import keras_hourglass.losses  # noqa: F401 (registers the loss for reloading)
from tests.train_helpers import TINY_MODEL_FLAGS
from tests.train_helpers import run_training
from training.distribute import make_optimizer
from training.distribute import wrap_optimizer_for_precision
from training.resume import read_backup
from training.train import main as train_main


@pytest.fixture
def shard_dir(tiny_shards):
    return tiny_shards


@pytest.mark.slow
def test_two_step_fit_under_mirrored_strategy_on_two_devices(shard_dir, tmp_path):
    run_dir = tmp_path / "run"
    flags = TINY_MODEL_FLAGS + [
        "--data-dir", str(shard_dir), "--run-dir", str(run_dir),
        "--batch-size", "4", "--epochs", "1", "--steps-per-epoch", "2",
    ]  # fmt: skip
    result = run_training(flags, two_devices=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "training on 2 replica(s)" in result.stdout
    saved = json.loads((run_dir / "config.json").read_text())
    assert saved["batch_size"] == 4 and saved["n_features"] == 16
    with (run_dir / "training_log.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 1
    for column in ("stack1_heatmaps_loss", "stack2_heatmaps_loss", "val_pckh",
                   "val_pckh_stack1", "val_pckh_stack2", "learning_rate"):  # fmt: skip
        assert np.isfinite(float(rows[0][column])), column
    total = float(rows[0]["loss"])
    stacks = float(rows[0]["stack1_heatmaps_loss"]) + float(
        rows[0]["stack2_heatmaps_loss"]
    )
    assert total == pytest.approx(stacks, rel=1e-4)
    assert (run_dir / "checkpoints" / "latest.keras").is_file()
    assert (run_dir / "checkpoints" / "best.keras").is_file()
    # Architecture + weights (keras_hourglass.saving); the optimizer state,
    # after 2 steps, is in the backup.
    model = keras.saving.load_model(run_dir / "final.keras")
    assert model.output_names == ["stack1_heatmaps", "stack2_heatmaps"]
    assert read_backup(run_dir / "backup")["global_step"] == 2
    # The backup stays at the end, so the same command again trains nothing.
    assert read_backup(run_dir / "backup")["epoch"] == 1


def test_batch_not_divisible_by_replicas_is_refused(shard_dir, tmp_path):
    flags = TINY_MODEL_FLAGS + [
        "--data-dir", str(shard_dir), "--run-dir", str(tmp_path / "run"),
        "--batch-size", "3", "--epochs", "1", "--steps-per-epoch", "1",
    ]  # fmt: skip
    result = run_training(flags, two_devices=True)
    assert result.returncode != 0
    assert "not divisible by the 2 replicas" in result.stderr


def test_missing_data_dir_is_a_clear_error(tmp_path, capsys):
    # In this process: the error comes before any TensorFlow work.
    with pytest.raises(SystemExit) as exit_info:
        train_main(
            ["--preset", "demo", "--data-dir", str(tmp_path / "nowhere"),
             "--run-dir", str(tmp_path / "run")]
        )  # fmt: skip
    assert exit_info.value.code == 2
    assert "nowhere does not exist" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_float16_gets_loss_scaling_and_others_do_not():
    optimizer = make_optimizer("rmsprop", 1e-3)
    scaled = wrap_optimizer_for_precision(optimizer, "mixed_float16")
    assert isinstance(scaled, keras.optimizers.LossScaleOptimizer)
    for precision in ("float32", "mixed_bfloat16"):
        assert wrap_optimizer_for_precision(optimizer, precision) is optimizer
