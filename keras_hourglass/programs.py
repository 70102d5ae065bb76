"""The console programs the wheel installs, as data (nothing is imported).

`setup.py` turns this table into console-script entry points and
`python -m keras_hourglass` prints it. The programs themselves live in the
`training/` and `evaluation/` folders: the library never imports them.
"""

# Console script -> (module run by `python -m` from a checkout, what it does).
PROGRAMS = {
    "hourglass-make-tfrecords": (
        "training.make_tfrecords",
        "convert MPII, LSP, COCO, CSV or synthetic data to TFRecord shards",
    ),
    "hourglass-train": ("training.train", "train a network on TFRecord shards"),
    "hourglass-export": (
        "training.export",
        "export a trained model as a SavedModel (or TFLite) for serving",
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
    """The function of `training.console` behind a console script:
    `"hourglass-make-tfrecords"` -> `"make_tfrecords"`."""
    return script.removeprefix("hourglass-").replace("-", "_")


def program_table():
    """The programs as aligned text lines: script, `python -m` module, use."""
    width = max(len(script) for script in PROGRAMS)
    module_width = max(len(module) for module, _ in PROGRAMS.values())
    return [
        f"{script:<{width}}  python -m {module:<{module_width}}  {purpose}"
        for script, (module, purpose) in PROGRAMS.items()
    ]
