"""Process-wide TensorFlow settings the programs choose before TF loads.

Both are environment variables that TensorFlow reads once, when it is first
imported, so `use_program_defaults()` must run before anything imports
`tensorflow` or `keras`: the `training` and `evaluation` packages (and
`benchmarks`) call it as they load, which is before `python -m training.train`
runs its module and before a console script imports its program. Processes the
programs start inherit the variables. A value the user has already set always
wins (`TF_ENABLE_ONEDNN_OPTS=0 hourglass-train ...` turns the oneDNN kernels
off again; `TF_CPP_MIN_LOG_LEVEL=0` shows every log line).

TensorFlow 2.21 still writes a few lines while its shared libraries load (the
absl banner, the oneDNN notice, the CUDA-stub probe), before it applies
`TF_CPP_MIN_LOG_LEVEL`; no environment variable reaches them.
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
    `environ` (default `os.environ`); returns the names it set.

    Warns when TensorFlow is already imported, because then the settings no
    longer take effect in this process.
    """
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
