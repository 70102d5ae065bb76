"""TensorFlow environment variables the programs set before TensorFlow loads.

TensorFlow reads them once, on import, so the `training` and `evaluation`
packages (and `benchmarks`) set them as they load; child processes inherit
them, and a value the user has set wins (`TF_CPP_MIN_LOG_LEVEL=0`).
"""

import os
import sys
import warnings

PROGRAM_DEFAULTS = {
    # TensorFlow's start-up chatter (CUDA probing, the cuInit error without a
    # driver, the oneDNN notice) hides the progress bars; failures still raise.
    "TF_CPP_MIN_LOG_LEVEL": "3",
    # TensorFlow turns its oneDNN CPU kernels on only for some CPUs (not the
    # AMD EPYC this project is tested on), where they bring a training step
    # level with PyTorch's channels_last (benchmarks/torch_comparison.py).
    "TF_ENABLE_ONEDNN_OPTS": "1",
}

# The sentence every program's `--help` ends with (a variable, not a flag).
STARTUP_LINES_HELP = (
    "TensorFlow's log lines are hidden (a few it prints while loading still show):\n"
    "run with TF_CPP_MIN_LOG_LEVEL=0 to show them all (1: warnings and errors,\n"
    "2: errors only)."
)


def use_program_defaults(environ=None):
    """Sets each `PROGRAM_DEFAULTS` variable not set in `environ` (default
    `os.environ`); returns their names. Warns if TensorFlow is already loaded."""
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
