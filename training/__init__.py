"""Training programs (`python -m training.train`, ...; installed from the
wheel as the `hourglass-*` console scripts)."""

import importlib
import sys

from . import environment

# Loading this package is the first thing every program does (`python -m
# training.train` and each console script import it before their module), so
# TensorFlow's environment is set here, before anything can import it.
environment.use_program_defaults()

# The wheel installs this folder as `keras_hourglass_programs.training` (a
# generic top-level name such as `training` could shadow a user's package).
# The programs import each other absolutely, `training.x` and `evaluation.y`,
# as from a checkout, so in this process those two names become aliases of
# the installed packages, unless something already holds them.
if __name__ != "training":
    _namespace = __name__.rpartition(".")[0]
    sys.modules.setdefault("training", sys.modules[__name__])
    sys.modules.setdefault("training.environment", environment)
    sys.modules.setdefault(
        "evaluation", importlib.import_module(f"{_namespace}.evaluation")
    )
