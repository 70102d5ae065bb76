"""The JSON file stored beside a `.keras` model: how to feed that model.

    hourglass8_mpii.keras     the network (`keras.saving.load_model`)
    hourglass8_mpii.json      its sidecar: source, joints, input size and
                              normalisation, and its crop convention

`training.convert_weights` writes one for every converted checkpoint, because
the PyTorch port's weights expect the port's crop window
(`transforms.PYTORCH_PORT`), not ours. Models trained here have none and keep
the default crop (`transforms.OFFICIAL_TORCH`). This module is the one place
that finds and reads it; evaluation, the predictor and the export all ask
`crop_convention_of_keras_file`.
"""

import json
from pathlib import Path

from keras_hourglass.transforms import crop_convention_from_metadata


def sidecar_path(keras_path):
    """`hourglass8_mpii.keras` -> `hourglass8_mpii.json`."""
    return Path(keras_path).with_suffix(".json")


def read_sidecar(keras_path):
    """Returns the sidecar dict of a `.keras` file, or {} when it has none.

    Raises:
        ValueError: the sidecar exists but is not a JSON object (naming it).
    """
    path = sidecar_path(keras_path)
    if not path.is_file():
        return {}
    try:
        metadata = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: the model's sidecar is not JSON ({error})") from None
    if not isinstance(metadata, dict):
        raise ValueError(f"{path}: the model's sidecar must be a JSON object")
    return metadata


def crop_convention_of_keras_file(keras_path):
    """Returns the `CropConvention` of a `.keras` file: its sidecar's, else
    the default (`transforms.OFFICIAL_TORCH`)."""
    return crop_convention_from_metadata(
        read_sidecar(keras_path), where=str(sidecar_path(keras_path))
    )
