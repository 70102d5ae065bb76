"""A model for the programs: any kind `keras_hourglass.saving.load_model`
reads, with its training run's joint set when the file records none (the run's
`config.json`, a training program file the library does not read, names it).
"""

import dataclasses
from pathlib import Path

from keras_hourglass.data.metadata import check_metadata_fields
from keras_hourglass.files import read_json
from keras_hourglass.joint_sets import builtin_joint_set
from keras_hourglass.joint_sets import joint_set_from_metadata
from keras_hourglass.predictor import load_predictor
from keras_hourglass.saving import load_model


def run_file(model_path, name):
    """The file `name` of the training run a model came from (the model's
    folder, or the folder above it, as for an export inside its run), or None."""
    path = Path(model_path)
    run_dir = path if path.is_dir() else path.parent
    found = [d / name for d in (run_dir, run_dir.parent) if (d / name).is_file()]
    return found[0] if found else None


def joint_set_for_run(path, num_joints):
    """The joint set of a run's dataset (its `config.json` `data_dir`), else
    the built-in set with `num_joints`; ValueError when neither is usable."""
    config_path = run_file(path, "config.json")
    if config_path is not None:
        data_dir = Path(read_json(config_path).get("data_dir", ""))
        dataset_json = data_dir / "dataset.json"
        if dataset_json.is_file():
            metadata = read_json(dataset_json)
            check_metadata_fields(metadata, dataset_json)
            joint_set = joint_set_from_metadata(metadata)
            if joint_set.num_joints == num_joints:
                return joint_set
    return builtin_joint_set(num_joints)


def load_program_model(path):
    """`saving.load_model` with the joint set the model records, else its run's."""
    loaded = load_model(path)
    if loaded.joint_set is not None:
        return loaded
    joint_set = joint_set_for_run(loaded.source, loaded.num_joints)
    return dataclasses.replace(loaded, joint_set=joint_set)


def make_predictor(model, flip_test=True):
    """A `PosePredictor` of a serving URL or of `load_program_model(model)`."""
    if str(model).startswith(("http://", "https://")):
        return load_predictor(str(model))
    return load_predictor(load_program_model(model), flip_test=flip_test)
