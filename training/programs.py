"""The console programs the wheel installs, and the functions they call.

`setup.py` reads this file by path (standard library only, so building the
wheel needs no TensorFlow) and turns `PROGRAMS` into console-script entry
points. Each entry runs a program's `main()` under the module name `python -m`
uses from a checkout (`training.train`), so every module loads once whichever
way the program starts; the exit status is `main()`'s when it is an int, else
0. Importing this module loads the `training` package first, which sets
TensorFlow's environment before the program imports it (`training.environment`).
"""

import importlib
import sys

# Console script -> (module run by `python -m` from a checkout, what it does).
PROGRAMS = {
    "hourglass-make-tfrecords": (
        "training.make_tfrecords",
        "convert MPII, LSP, COCO, CSV or synthetic data to TFRecord shards",
    ),
    "hourglass-train": ("training.train", "train a network on TFRecord shards"),
    "hourglass-export": (
        "training.export",
        "export a trained model as a SavedModel, LiteRT or ONNX file for serving",
    ),
    "hourglass-convert-weights": (
        "training.convert_weights",
        "convert a published PyTorch hourglass checkpoint to a .keras model",
    ),
    "hourglass-quickstart": (
        "training.quickstart",
        "synthetic data, a demo training run, its evaluation and export",
    ),
    "hourglass-evaluate": (
        "evaluation.evaluate",
        "PCKh tables, predictions and figures of a model on a validation split",
    ),
    "hourglass-predict": (
        "evaluation.predict",
        "keypoints and overlays for images or a video, from a model or a URL",
    ),
    "hourglass-pckh": (
        "evaluation.pckh",
        "score a prediction file against ground truth (the paper's table)",
    ),
    "hourglass-ablation": (
        "evaluation.ablation",
        "train and compare the paper's ablation variants",
    ),
}


def entry_point_name(script):
    """The function of `training.programs` behind a console script:
    `"hourglass-make-tfrecords"` -> `"make_tfrecords"`."""
    return script.removeprefix("hourglass-").replace("-", "_")


def program_name(module_name, started_as=None, main_module=None):
    """How the usage line of program `module_name` ("training.train") names
    it: the console script when it was started as one (`hourglass-train`),
    else `python -m` and the module that ran (from the wheel that is
    `keras_hourglass_programs.training.train`), else `python -m training.train`.

    Args:
        module_name: str. The program's module in a checkout.
        started_as: str. Defaults to `sys.argv[0]`, a console script's path
            when one started the process.
        main_module: str. Defaults to the module `python -m` ran (the spec
            name of `__main__`; none for a console script).
    """
    if started_as is None:
        started_as = sys.argv[0] if sys.argv else ""
    if main_module is None:
        main_spec = getattr(sys.modules.get("__main__"), "__spec__", None)
        main_module = main_spec.name if main_spec is not None else ""
    # Windows launchers: `hourglass-train.exe`, `hourglass-train-script.py`.
    script = started_as.replace("\\", "/").rpartition("/")[2]
    script = script.removesuffix(".exe").removesuffix("-script.py")
    if script in PROGRAMS and PROGRAMS[script][0] == module_name:
        return script
    if main_module.endswith(f".{module_name}") or main_module == module_name:
        return f"python -m {main_module}"
    return f"python -m {module_name}"


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
