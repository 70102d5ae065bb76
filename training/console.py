"""Entry points of the console scripts the wheel installs (`hourglass-train`,
...; the table is `training.programs.PROGRAMS`).

Each runs a program's `main()` under the same module name `python -m` uses
from a checkout (`training.train`), so every module is loaded once whichever
way the program starts. Some `main()`s return their result (a History, the
dataset metadata) for callers in Python; a console script's exit status is
`main()`'s when it is an int, else 0. Importing this module loads the
`training` package first, which sets TensorFlow's environment before the
program can import it (see `training.environment`).
"""

import importlib


def run_program(module_name):
    """Runs `module_name.main()` on `sys.argv`; returns the exit status."""
    status = importlib.import_module(module_name).main()
    return status if isinstance(status, int) else 0


def make_tfrecords():
    return run_program("training.make_tfrecords")


def train():
    return run_program("training.train")


def export():
    return run_program("training.export")


def convert_weights():
    return run_program("training.convert_weights")


def quickstart():
    return run_program("training.quickstart")


def evaluate():
    return run_program("evaluation.evaluate")


def predict():
    return run_program("evaluation.predict")


def pckh():
    return run_program("evaluation.pckh")


def ablation():
    return run_program("evaluation.ablation")
