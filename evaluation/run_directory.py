"""Reading a training run directory: which `.keras` file to use, the joint
set of the dataset it was trained on, and the crop convention of the model
(its sidecar's, for weights converted from the PyTorch port).

The layout is the training program's (`training.callbacks.run_paths`): the
library's export takes a model and a joint set and knows nothing of it.
Programs that accept "a .keras file or a run directory" (export, evaluate,
predict) resolve it here.
"""

import json
from pathlib import Path

from keras_hourglass.joint_sets import builtin_joint_set
from keras_hourglass.joint_sets import joint_set_from_metadata
from keras_hourglass.model_sidecar import crop_convention_of_keras_file
from keras_hourglass.serving.export import load_keras_model

# A run directory's models, best first (training.callbacks' layout).
RUN_MODEL_CANDIDATES = (
    "final.keras",
    "checkpoints/best.keras",
    "checkpoints/latest.keras",
)


def find_keras_file(path):
    """Returns the `.keras` file of a path: the file itself, or a run
    directory's final/best/latest model, or its only `*.keras` file."""
    path = Path(path)
    if path.is_file():
        if path.suffix != ".keras":
            raise ValueError(f"{path}: not a .keras model file")
        return path
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such model file or run directory")
    for candidate in RUN_MODEL_CANDIDATES:
        if (path / candidate).is_file():
            return path / candidate
    found = sorted(path.rglob("*.keras"))
    if len(found) != 1:
        raise FileNotFoundError(
            f"{path}: expected final.keras or exactly one *.keras file, found "
            f"{[str(file) for file in found]}"
        )
    return found[0]


def joint_set_for_run(path, num_joints):
    """Returns the joint set of a run: its dataset's `dataset.json` (via the
    run's `config.json` `data_dir`) when readable, else the built-in set with
    `num_joints` joints. Raises ValueError when neither exists."""
    path = Path(path)
    run_dir = path if path.is_dir() else path.parent
    for directory in (run_dir, run_dir.parent):
        config_path = directory / "config.json"
        if not config_path.is_file():
            continue
        data_dir = Path(json.loads(config_path.read_text()).get("data_dir", ""))
        dataset_json = data_dir / "dataset.json"
        if dataset_json.is_file():
            joint_set = joint_set_from_metadata(json.loads(dataset_json.read_text()))
            if joint_set.num_joints == num_joints:
                return joint_set
    return builtin_joint_set(num_joints)


def load_run_model(path):
    """Returns `(model, joint set)` of a `.keras` file or run directory."""
    model = load_keras_model(find_keras_file(path))
    num_joints = int(model.outputs[-1].shape[-1])
    return model, joint_set_for_run(path, num_joints)


def crop_convention_for_run(path):
    """Returns the `CropConvention` of a `.keras` file or run directory's
    model: its sidecar's (`training.convert_weights` records the port's),
    else ours."""
    return crop_convention_of_keras_file(find_keras_file(path))
