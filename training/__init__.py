"""Training programs (`python -m training.train`, ...; installed from the
wheel as the `hourglass-*` console scripts)."""

import importlib
import sys

from . import environment

# Every program imports this package first, so TensorFlow's environment is set
# here, before anything can import TensorFlow.
environment.use_program_defaults()

# The wheel installs this folder as `keras_hourglass_programs.training` (a
# top-level `training` could shadow a user's package); the programs import
# `training.x` and `evaluation.y` as from a checkout, so those names alias it.
if __name__ != "training":
    _namespace = __name__.rpartition(".")[0]
    sys.modules.setdefault("training", sys.modules[__name__])
    sys.modules.setdefault("training.environment", environment)
    sys.modules.setdefault(
        "evaluation", importlib.import_module(f"{_namespace}.evaluation")
    )
