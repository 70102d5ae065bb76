"""The predictor behind `evaluation.predict`: `keras_hourglass.load_predictor`
plus what only the programs know, the layout of a training run directory.

A run directory gives its best model file (`final.keras`, else the best or
latest checkpoint, see `keras_hourglass.serving.export.find_keras_file`) and
the joint set of the dataset it was trained on (via its `config.json`).
"""

from pathlib import Path

from keras_hourglass.predictor import load_predictor
from keras_hourglass.predictor_backends import holds_saved_model
from keras_hourglass.predictor_backends import latest_version_dir

# evaluation.inference_loop finds export versions through this module.
__all__ = ["latest_version_dir", "make_predictor"]


def make_predictor(model, flip_test=True):
    """Returns a `PosePredictor` for a URL, a SavedModel folder, a `.keras`
    file or a training run directory."""
    from keras_hourglass.serving.export import find_keras_file
    from keras_hourglass.serving.export import joint_set_for_run

    text = str(model)
    if text.startswith(("http://", "https://")):
        return load_predictor(text)
    path = Path(model)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such model")
    if path.is_dir() and holds_saved_model(path):
        return load_predictor(path)
    import keras

    keras_file = find_keras_file(path)
    loaded = keras.saving.load_model(keras_file, compile=False)
    joint_set = joint_set_for_run(keras_file, int(loaded.outputs[-1].shape[-1]))
    return load_predictor(loaded, joint_set=joint_set, flip_test=flip_test)
