import importlib.util
import json
import os
import subprocess
import sys
import zipfile

import keras
import numpy as np
import pytest

from keras_hourglass.losses import joint_heatmap_mse
from keras_hourglass.model import build_stacked_hourglass
from keras_hourglass.saving import save_model

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
