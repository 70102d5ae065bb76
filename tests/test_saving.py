import importlib.util
import json
import os
import subprocess
import sys
import zipfile

import keras
import numpy as np
import pytest

from keras_hourglass.joint_sets import LSP_14
from keras_hourglass.joint_sets import MPII_16
from keras_hourglass.losses import joint_heatmap_mse
from keras_hourglass.model import build_stacked_hourglass
from keras_hourglass.model import builder_arguments_of
from keras_hourglass.saving import latest_version_dir
from keras_hourglass.saving import load_model
from keras_hourglass.saving import run_model_file
from keras_hourglass.saving import save_model
from keras_hourglass.transforms import OFFICIAL_TORCH
from keras_hourglass.transforms import PYTORCH_PORT

TINY = {"n_joints": 16, "n_features": 16, "depth": 2, "input_shape": (64, 64, 3)}

# A process that imports nothing from the project, as a user's would.
LOAD_SCRIPT = """
import sys
import keras
import numpy as np
model = keras.saving.load_model(sys.argv[1])
outputs = model.predict(np.load(sys.argv[2]), verbose=0)
np.save(sys.argv[3], np.stack(outputs))
print(keras.backend.backend())
"""


@pytest.fixture(scope="module")
def compiled_model():
    """A tiny model compiled as `training.train` compiles it, with built
    optimizer slots (the state a checkpoint during `fit` has), and images."""
    model = build_stacked_hourglass(n_stacks=2, **TINY)
    model.compile(optimizer="adam", loss=[joint_heatmap_mse] * 2)
    model.optimizer.build(model.trainable_variables)
    images = np.random.default_rng(0).uniform(size=(2, 64, 64, 3))
    return model, images.astype("float32")


def test_saved_file_holds_no_compile_config_and_reloads_the_same(
    compiled_model, tmp_path
):
    model, images = compiled_model
    path = tmp_path / "model.keras"
    save_model(model, path)
    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
    assert not config.get("compile_config")
    restored = keras.saving.load_model(path)
    assert restored.output_names == model.output_names
    assert restored.name == model.name
    for got, want in zip(
        restored.predict(images, verbose=0), model.predict(images, verbose=0)
    ):
        np.testing.assert_array_equal(got, want)
    # The model itself stays compiled, its optimizer state in place.
    assert model.compiled and model.optimizer.built


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_plain_load_model_in_a_fresh_process(compiled_model, tmp_path, backend):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} not installed")
    model, images = compiled_model
    save_model(model, tmp_path / "model.keras")
    np.save(tmp_path / "images.npy", images)
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    environment["KERAS_BACKEND"] = backend
    result = subprocess.run(
        [sys.executable, "-c", LOAD_SCRIPT, tmp_path / "model.keras",
         tmp_path / "images.npy", tmp_path / "outputs.npy"],
        cwd=tmp_path, env=environment, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split()[-1] == backend
    expected = np.stack(model.predict(images, verbose=0))
    np.testing.assert_allclose(np.load(tmp_path / "outputs.npy"), expected, atol=1e-5)


def test_the_sidecar_records_how_to_build_and_feed_the_model(compiled_model, tmp_path):
    model, images = compiled_model
    path = tmp_path / "model.keras"
    save_model(model, path, crop_convention=PYTORCH_PORT, notes={"source": "test"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json", "model.keras"]
    sidecar = json.loads((tmp_path / "model.json").read_text())
    arguments = sidecar["builder_arguments"]
    assert arguments == {
        "n_stacks": 2, "n_joints": 16, "n_features": 16, "n_modules": 1,
        "depth": 2, "input_shape": [64, 64, 3], "intermediate_supervision": True,
        "name": "stacked_hourglass",
    }  # fmt: skip
    assert sidecar["source"] == "test"
    loaded = load_model(path)
    assert loaded.crop_convention == PYTORCH_PORT
    assert loaded.builder_arguments == arguments
    assert loaded.joint_set is None
    assert (loaded.input_size, loaded.num_joints) == (64, 16)
    assert loaded.output_names == ("stack1_heatmaps", "stack2_heatmaps")
    rebuilt = build_stacked_hourglass(
        **{**arguments, "input_shape": tuple(arguments["input_shape"])}
    )
    assert rebuilt.count_params() == model.count_params()


def test_builder_arguments_are_read_from_any_built_model():
    arguments = {"n_stacks": 3, "n_joints": 14, "n_features": 32, "n_modules": 2,
                 "depth": 3, "input_shape": [96, 64, 3],
                 "intermediate_supervision": False, "name": "custom"}  # fmt: skip
    model = build_stacked_hourglass(
        **{**arguments, "input_shape": tuple(arguments["input_shape"])}
    )
    assert builder_arguments_of(model) == arguments


def test_a_file_without_sidecar_loads_from_what_the_model_shows(tmp_path):
    model = build_stacked_hourglass(n_stacks=1, n_joints=14, **{
        k: v for k, v in TINY.items() if k != "n_joints"})  # fmt: skip
    model.save(tmp_path / "plain.keras")
    loaded = load_model(tmp_path / "plain.keras")
    assert loaded.crop_convention == OFFICIAL_TORCH
    assert loaded.joint_set is None and loaded.num_joints == 14
    assert loaded.builder_arguments == builder_arguments_of(model)


def test_the_joint_set_is_recorded_and_must_match_the_model(tmp_path):
    model = build_stacked_hourglass(n_stacks=1, n_joints=14, **{
        k: v for k, v in TINY.items() if k != "n_joints"})  # fmt: skip
    save_model(model, tmp_path / "lsp.keras", joint_set=LSP_14)
    assert load_model(tmp_path / "lsp.keras").joint_set == LSP_14
    with pytest.raises(ValueError, match="has 16 joints but the model predicts 14"):
        save_model(model, tmp_path / "mpii.keras", joint_set=MPII_16)
    assert not (tmp_path / "mpii.keras").exists()


def test_a_run_directory_gives_final_then_best_then_latest(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    for name in ("checkpoints/latest.keras", "checkpoints/best.keras"):
        (tmp_path / name).write_bytes(b"")
    assert run_model_file(tmp_path) == tmp_path / "checkpoints/best.keras"
    (tmp_path / "final.keras").write_bytes(b"")
    assert run_model_file(tmp_path) == tmp_path / "final.keras"
    assert run_model_file(tmp_path / "final.keras") == tmp_path / "final.keras"
    with pytest.raises(FileNotFoundError, match="no such model"):
        run_model_file(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="no such model"):
        load_model(tmp_path / "missing")


def test_the_highest_numbered_export_version_is_used(tmp_path):
    for name in ("2", "10", "11", "notes"):
        (tmp_path / name).mkdir()
    for name in ("2", "10"):
        (tmp_path / name / "saved_model.pb").write_bytes(b"")
    assert latest_version_dir(tmp_path) == tmp_path / "10"
    assert latest_version_dir(tmp_path / "2") == tmp_path / "2"
    with pytest.raises(FileNotFoundError, match="no SavedModel version folder"):
        latest_version_dir(tmp_path / "notes")
