"""A model for the programs (evaluate, predict, export): any kind that
`keras_hourglass.saving.load_model` reads, with the joint set of the dataset
a training run was trained on when the model file records none.

The run's dataset is named by its `config.json` (`data_dir`), a file of the
training program's: the library's loader knows the run directory's model
files but not that.
"""

import dataclasses
import json
from pathlib import Path

from keras_hourglass.data.metadata import check_metadata_fields
from keras_hourglass.joint_sets import builtin_joint_set
from keras_hourglass.joint_sets import joint_set_from_metadata
from keras_hourglass.saving import load_model


def joint_set_for_run(path, num_joints):
    """Returns the joint set of a run: its dataset's `dataset.json` (via the
    run's `config.json` `data_dir`) when readable, else the built-in set with
    `num_joints` joints. Raises ValueError when neither exists or the
    dataset's `dataset.json` is unusable (`check_metadata_fields`)."""
    path = Path(path)
    run_dir = path if path.is_dir() else path.parent
    for directory in (run_dir, run_dir.parent):
        config_path = directory / "config.json"
        if not config_path.is_file():
            continue
        data_dir = Path(json.loads(config_path.read_text()).get("data_dir", ""))
        dataset_json = data_dir / "dataset.json"
        if dataset_json.is_file():
            metadata = json.loads(dataset_json.read_text())
            check_metadata_fields(metadata, dataset_json)
            joint_set = joint_set_from_metadata(metadata)
            if joint_set.num_joints == num_joints:
                return joint_set
    return builtin_joint_set(num_joints)


def load_program_model(path):
    """Loads a `.keras` file, run directory or SavedModel export
    (`keras_hourglass.saving.load_model`) and returns the `LoadedModel`
    with its joint set: the one it records, else its run's.

    Raises:
        FileNotFoundError, ValueError: no loadable model, or no joint set
            with the model's joint count (message names the path).
    """
    loaded = load_model(path)
    if loaded.joint_set is not None:
        return loaded
    joint_set = joint_set_for_run(loaded.source, loaded.num_joints)
    return dataclasses.replace(loaded, joint_set=joint_set)
