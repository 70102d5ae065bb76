"""`import keras_hourglass`: its public names, and the Keras objects a saved
model may name are registered by the import alone (the Keras convention)."""

import subprocess
import sys

import keras_hourglass

# A fresh process that imports the package and nothing else of the project.
LOAD_WITH_PACKAGE = """
import sys
import keras
import keras_hourglass
model = keras.saving.load_model(sys.argv[1])
print(model.loss.__name__)
"""


def test_public_names_are_listed_and_importable():
    assert "build_stacked_hourglass" in keras_hourglass.__all__
    assert "predict_poses" in keras_hourglass.__all__
    assert "joint_heatmap_mse" in keras_hourglass.__all__
    assert "make_dataset" in keras_hourglass.__all__
    for name in keras_hourglass.__all__:
        assert getattr(keras_hourglass, name) is not None, name
    assert set(keras_hourglass.__all__) <= set(dir(keras_hourglass))


def test_a_model_compiled_with_the_loss_loads_after_importing_the_package(
    tmp_path,
):
    model = keras_hourglass.build_stacked_hourglass(
        n_stacks=1, n_joints=3, n_features=8, depth=1, input_shape=(32, 32, 3)
    )
    model.compile(optimizer="rmsprop", loss=keras_hourglass.joint_heatmap_mse)
    path = tmp_path / "compiled.keras"
    model.save(path)  # plain Keras save: the compile config names the loss
    result = subprocess.run(
        [sys.executable, "-c", LOAD_WITH_PACKAGE, str(path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "joint_heatmap_mse"
