"""Evaluation programs (`python -m evaluation.evaluate`, ...; installed from
the wheel as the `hourglass-*` console scripts)."""

import importlib
import sys

# The training package sets TensorFlow's environment as it loads: loading it
# first keeps that before anything here imports TensorFlow. Installed, see
# training/__init__.py for why `training` and `evaluation` become aliases.
if __name__ != "evaluation":
    _namespace = __name__.rpartition(".")[0]
    sys.modules.setdefault("evaluation", sys.modules[__name__])
    sys.modules.setdefault(
        "training", importlib.import_module(f"{_namespace}.training")
    )
else:
    importlib.import_module("training")
