"""Fine-tuning on datasets of other joint sets (`--init-from`,
`--freeze-backbone-epochs`), from the converted PyTorch-port checkpoint
(tests/fixtures) and from a tiny trained model."""

import csv
import json
import os
import shutil
import signal
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_hourglass.data.metadata import read_metadata
from keras_hourglass.data.metadata import split_files
from keras_hourglass.model import joint_head_layer_names
from keras_hourglass.saving import load_model
from tests.custom_keypoint_helpers import FIVE_JOINTS
from tests.custom_keypoint_helpers import LSP_JOINTS
from tests.custom_keypoint_helpers import make_keypoint_shards
from tests.test_weights import STATE_DICT_FILE
from tests.train_helpers import PROJECT_ROOT
from tests.train_helpers import TINY_MODEL_FLAGS
from tests.train_helpers import run_training_here
from tests.train_helpers import subprocess_environment
from tests.training.test_resume import wait_for_mid_epoch_backup
from training.builders import build_model
from training.builders import compile_model
from training.builders import make_datasets
from training.config import config_from_preset
from training.convert_weights import convert_checkpoint
from training.finetune import backbone_layers
from training.finetune import initialize_from
from training.finetune import set_backbone_trainable
from training.finetune import split_fit_calls
from training.resume import read_backup
from training.resume import restore_weights
from training.resume import write_backup
from training.train import main as train_main

# The port fixture's architecture: 2 stacks of 32 features, depth 4, 64 px.
PORT_FLAGS = [
    "--n-stacks", "2", "--n-features", "32", "--depth", "4", "--n-modules", "1",
    "--input-size", "64", "--output-size", "16",
]  # fmt: skip


@pytest.fixture(scope="module")
def port_keras(tmp_path_factory):
    """The port fixture converted to a .keras file, as users convert theirs."""
    out = tmp_path_factory.mktemp("port") / "port.keras"
    convert_checkpoint(STATE_DICT_FILE, out, input_size=64)
    return out


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """{joint count: shard folder} of custom keypoint sets of 14 and 5 (the
    5-joint set has no torso and no head boxes: box PCK validates it)."""
    folder = tmp_path_factory.mktemp("keypoint_sets")
    return {
        14: make_keypoint_shards(folder / "k14", LSP_JOINTS, 12, 8),
        5: make_keypoint_shards(folder / "k5", FIVE_JOINTS, 12, 8),
    }


def port_config(data_dir, run_dir="unused"):
    return config_from_preset(
        "demo", n_stacks=2, n_features=32, depth=4, input_size=64, output_size=16,
        batch_size=4, data_dir=str(data_dir), run_dir=str(run_dir), shuffle_buffer=8,
    )  # fmt: skip


def layer_weights(model, names):
    return {name: [np.array(w) for w in model.get_layer(name).get_weights()]
            for name in names}  # fmt: skip


def assert_same(weights, model, changed=False):
    """Every layer's weights equal (or, with `changed`, not all equal)."""
    equal = [
        all(np.array_equal(a, b)
            for a, b in zip(kept, model.get_layer(name).get_weights()))
        for name, kept in weights.items()
    ]  # fmt: skip
    if changed:
        assert not all(equal)
    else:
        assert all(equal), [n for n, e in zip(weights, equal) if not e][:3]


def test_split_fit_calls_thaws_at_the_freeze_epoch():
    calls = [
        {"initial_epoch": 1, "epochs": 2, "steps_per_epoch": 2, "step_offset": 3},
        {"initial_epoch": 2, "epochs": 6, "steps_per_epoch": 5, "step_offset": 0},
    ]
    split = split_fit_calls(calls, 4)
    assert [(c["initial_epoch"], c["epochs"], c["frozen"]) for c in split] == [
        (1, 2, True), (2, 4, True), (4, 6, False)
    ]  # fmt: skip
    assert split[0]["step_offset"] == 3 and split[2]["step_offset"] == 0
    assert [c["frozen"] for c in split_fit_calls(calls, 0)] == [False, False]
    assert [c["frozen"] for c in split_fit_calls(calls, 9)] == [True, True]


@pytest.mark.parametrize("num_joints", [14, 5])
def test_fine_tuning_the_port_on_another_joint_set(port_keras, shards, num_joints):
    source = load_model(port_keras).keras_model
    config = port_config(shards[num_joints])
    model = build_model(config, num_joints)
    report = initialize_from(model, str(port_keras))
    heads = joint_head_layer_names(2)
    assert set(report.created) == set(heads)
    backbone = [layer.name for layer in backbone_layers(model)]
    # Before the first step: every transferred weight is the source's.
    assert_same(layer_weights(source, backbone), model)
    for name in ("stack1_heatmap_conv", "stack2_heatmap_conv"):
        assert model.get_layer(name).kernel.shape == (1, 1, 32, num_joints)
    remap = model.get_layer("stack1_remap_heatmaps")
    assert remap.kernel.shape == (1, 1, num_joints, 32)
    metadata = read_metadata(shards[num_joints])
    train, _ = make_datasets(
        config, metadata, split_files(metadata, "train"),
        split_files(metadata, "valid"), model.output_names,
    )  # fmt: skip
    compile_model(model, config)
    model.optimizer.build(model.trainable_variables)
    set_backbone_trainable(model, False)
    compile_model(model, config, optimizer=model.optimizer)
    model.run_eagerly = True  # a few steps: cheaper than tracing the step
    heads_before = layer_weights(model, heads)
    frozen = model.fit(train, epochs=3, steps_per_epoch=2, verbose=0)
    # The frozen phase trains the heads only: the backbone (batch-norm
    # statistics included) is still the source's.
    assert_same(layer_weights(source, backbone), model)
    assert_same(heads_before, model, changed=True)
    losses = frozen.history["loss"]
    assert losses[-1] < losses[0], losses
    set_backbone_trainable(model, True)
    compile_model(model, config, optimizer=model.optimizer)
    model.run_eagerly = True
    thawed = model.fit(train, epochs=1, steps_per_epoch=2, verbose=0)
    assert_same(layer_weights(source, backbone), model, changed=True)
    assert thawed.history["loss"][-1] < losses[0]


def run_messages(capsys, flags):
    """(exit status, last stderr line) of an in-process training run."""
    with pytest.raises(SystemExit) as stopped:
        train_main(flags)
    return stopped.value.code, capsys.readouterr().err.strip().splitlines()[-1]


def test_another_architecture_is_refused_naming_init_from(
    port_keras, shards, tmp_path, capsys
):
    flags = TINY_MODEL_FLAGS + PORT_FLAGS + [
        "--data-dir", str(shards[14]), "--run-dir", str(tmp_path / "run"),
        "--init-from", str(port_keras),
    ]  # fmt: skip
    code, message = run_messages(capsys, flags + ["--n-features", "16"])
    assert code == 2
    assert f"--init-from {port_keras}" in message and "--n-features 32" in message
    not_a_model = tmp_path / "notes.keras"
    not_a_model.write_text("not a model")
    code, message = run_messages(capsys, flags + ["--init-from", str(not_a_model)])
    assert code == 2 and f"--init-from {not_a_model}" in message, message
    code, message = run_messages(
        capsys, TINY_MODEL_FLAGS + ["--freeze-backbone-epochs", "1"]
    )
    assert code == 2 and "init_from" in message, message
    assert not (tmp_path / "run" / "config.json").exists()


EPOCHS, STEPS = 3, 2


@pytest.fixture(scope="module")
def tiny_source(shards, tmp_path_factory):
    """A tiny 14-joint model, trained long enough for its batch-norm moving
    statistics to settle (else the loss jumps when the backbone thaws and its
    batch norm switches from them to batch statistics). The port's depth-4
    network would do as well, only slower."""
    run_dir = tmp_path_factory.mktemp("source") / "run"
    train_main(TINY_MODEL_FLAGS + [
        "--data-dir", str(shards[14]), "--run-dir", str(run_dir),
        "--batch-size", "4", "--epochs", "1", "--steps-per-epoch", "40",
    ])  # fmt: skip
    return run_dir / "final.keras"


@pytest.mark.slow
def test_sigkill_during_the_frozen_phase_resumes_then_thaws(
    tiny_source, shards, tmp_path, capsys
):
    init = tmp_path / "init" / "source.keras"
    init.parent.mkdir()
    shutil.copy(tiny_source, init)
    shutil.copy(tiny_source.with_suffix(".json"), init.with_suffix(".json"))
    run_dir = tmp_path / "run"
    flags = TINY_MODEL_FLAGS + [
        "--data-dir", str(shards[5]), "--run-dir", str(run_dir),
        "--batch-size", "4", "--epochs", str(EPOCHS), "--steps-per-epoch",
        str(STEPS), "--backup-every-steps", "1", "--init-from", str(init),
        "--freeze-backbone-epochs", "2",
    ]  # fmt: skip
    log = tmp_path / "first.log"
    with log.open("w") as output:
        first = subprocess.Popen(
            [sys.executable, "-m", "training.train", *flags], cwd=PROJECT_ROOT,
            env=subprocess_environment(), stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            wait_for_mid_epoch_backup(run_dir / "backup", first)
        finally:
            os.kill(first.pid, signal.SIGKILL)
            first.wait()
    first_output = log.read_text()
    assert f"--init-from {init}: copied" in first_output, first_output[-2000:]
    assert "created 3 joint-head layers" in first_output
    assert "training the joint heads only" in first_output
    assert "validation metric: box PCK" in first_output  # 5 joints, no torso
    state = read_backup(run_dir / "backup")
    assert state["epoch"] == 1, "killed in the second (frozen) epoch"
    source = load_model(tiny_source).keras_model
    after_frozen_epoch = load_model(run_dir / "checkpoints" / "latest.keras")
    backbone = [layer.name for layer in backbone_layers(source)]
    assert_same(layer_weights(source, backbone), after_frozen_epoch.keras_model)

    # The resumed run must not read the init weights again: they are gone.
    shutil.rmtree(init.parent)
    second = run_training_here(flags, capsys)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "copied" not in second.stdout
    assert f"epoch 2, {state['steps_done']} of {STEPS} steps done" in second.stdout
    assert "training every layer" in second.stdout
    final = load_model(run_dir / "final.keras").keras_model
    assert all(layer.trainable for layer in final.layers)
    assert_same(layer_weights(source, backbone), final, changed=True)
    with (run_dir / "training_log.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [int(row["epoch"]) for row in rows] == list(range(EPOCHS))
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"])
    recorded = json.loads((run_dir / "config.json").read_text())
    assert recorded["init_from"] == str(init)
    assert recorded["freeze_backbone_epochs"] == 2


def frozen_or_thawed_model(config, frozen):
    """A tiny model compiled as a fine-tuning run compiles it in one phase."""
    keras.utils.set_random_seed(0)
    model = compile_model(build_model(config, 5), config)
    set_backbone_trainable(model, not frozen)
    compile_model(model, config, optimizer=model.optimizer)
    model.run_eagerly = True  # one step each: cheaper than tracing it
    return model


@pytest.mark.parametrize("written_frozen", [True, False])
def test_a_backup_of_either_phase_resumes_in_either(tmp_path, written_frozen):
    config = config_from_preset(
        "demo", n_stacks=2, n_features=8, depth=1, input_size=16, output_size=4,
        optimizer="adam",
    )  # fmt: skip
    model = frozen_or_thawed_model(config, written_frozen)
    images = np.random.default_rng(0).random([2, 16, 16, 3], np.float32)
    targets = [np.random.default_rng(1).random([2, 4, 4, 5], np.float32)] * 2
    model.fit(images, targets, epochs=1, verbose=0)
    state = {"epoch": 1, "steps_done": 0, "steps_per_epoch": 1, "global_step": 1}
    write_backup(model, tmp_path, state)
    for frozen in (True, False):
        resumed = frozen_or_thawed_model(config, frozen)
        restore_weights(resumed, read_backup(tmp_path))
        for ours, theirs in zip(resumed.optimizer.variables, model.optimizer.variables):
            np.testing.assert_array_equal(ours, theirs)
        for ours, theirs in zip(resumed.weights, model.weights):
            np.testing.assert_array_equal(ours, theirs)
        resumed.fit(images, targets, epochs=1, verbose=0)
