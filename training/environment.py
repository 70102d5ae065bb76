"""Process-wide TensorFlow settings the programs choose before TF loads.

Both are environment variables TensorFlow reads once, when first imported, so
the `training` and `evaluation` packages (and `benchmarks`) call
`use_program_defaults()` as they load, before any program imports TensorFlow;
processes the programs start inherit them. A value the user has set always
wins (`TF_CPP_MIN_LOG_LEVEL=0` shows every log line). A few lines TensorFlow
writes while its shared libraries load come before any variable applies.
"""

import os
import sys
import warnings

PROGRAM_DEFAULTS = {
    # TensorFlow's start-up chatter (CUDA probing on CPU hosts, the cuInit
    # error where no driver is installed, the oneDNN notice) hides the
    # progress bars. Real failures still raise Python exceptions.
    "TF_CPP_MIN_LOG_LEVEL": "3",
    # TensorFlow turns its oneDNN CPU kernels on only for some CPUs (not the
    # AMD EPYC this project is tested on), where they bring a training step
    # level with PyTorch's channels_last (benchmarks/torch_comparison.py).
    "TF_ENABLE_ONEDNN_OPTS": "1",
}

# The sentence every program's `--help` ends with (the programs have no flag
# for it: the variable works the same for every program and for Python code).
STARTUP_LINES_HELP = (
    "TensorFlow's log lines are hidden (a few it prints while loading still show):\n"
    "run with TF_CPP_MIN_LOG_LEVEL=0 to show them all (1: warnings and errors,\n"
    "2: errors only)."
)


def use_program_defaults(environ=None):
    """Sets every `PROGRAM_DEFAULTS` variable the user has not set in
    `environ` (default `os.environ`); returns the names it set. Warns when
    TensorFlow is already imported: then they no longer take effect here."""
    environ = os.environ if environ is None else environ
    chosen = [name for name in PROGRAM_DEFAULTS if name not in environ]
    for name in chosen:
        environ[name] = PROGRAM_DEFAULTS[name]
    if chosen and "tensorflow" in sys.modules:
        warnings.warn(
            f"TensorFlow was imported before {', '.join(chosen)} were set; "
            "they take effect in new processes only",
            RuntimeWarning,
            stacklevel=2,
        )
    return chosen
