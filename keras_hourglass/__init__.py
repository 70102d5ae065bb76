"""keras_hourglass: Stacked Hourglass Networks for human pose estimation in Keras 3.

Importing the package has no side effects and does not import Keras or
TensorFlow: the public names load on first use, so pure-NumPy parts (joint
sets, metrics helpers) stay light.
"""

import importlib

__version__ = "0.1.0"

_PUBLIC_NAMES = {
    "build_stacked_hourglass": "keras_hourglass.model",
    "heatmap_output_name": "keras_hourglass.model",
    "load_predictor": "keras_hourglass.predictor",
    "predict_poses": "keras_hourglass.predictor",
    "Poses": "keras_hourglass.predictor",
}
__all__ = sorted(_PUBLIC_NAMES)


def __getattr__(name):
    if name in _PUBLIC_NAMES:
        return getattr(importlib.import_module(_PUBLIC_NAMES[name]), name)
    raise AttributeError(f"module 'keras_hourglass' has no attribute {name!r}")
