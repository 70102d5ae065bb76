"""The predictor behind `evaluation.predict`: `keras_hourglass.load_predictor`
plus what only the programs know, the layout of a training run directory.

A run directory gives its best model file (`final.keras`, else the best or
latest checkpoint) and the joint set of the dataset it was trained on (via its
`config.json`): both are resolved by `evaluation.run_directory`.
"""

from pathlib import Path

from evaluation.run_directory import crop_convention_for_run
from evaluation.run_directory import load_run_model
from keras_hourglass.predictor import load_predictor
from keras_hourglass.predictor_backends import holds_saved_model
from keras_hourglass.predictor_backends import latest_version_dir

# evaluation.inference_loop finds export versions through this module.
__all__ = ["latest_version_dir", "make_predictor"]


def make_predictor(model, flip_test=True):
    """Returns a `PosePredictor` for a URL, a SavedModel folder, a `.keras`
    file or a training run directory."""
    text = str(model)
    if text.startswith(("http://", "https://")):
        return load_predictor(text)
    path = Path(model)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such model")
    if path.is_dir() and holds_saved_model(path):
        return load_predictor(path)
    loaded, joint_set = load_run_model(path)
    return load_predictor(
        loaded, joint_set=joint_set, flip_test=flip_test,
        crop_convention=crop_convention_for_run(path),
    )  # fmt: skip
