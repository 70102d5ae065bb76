"""Process-wide TensorFlow settings the programs choose before TF loads.

Both are environment variables that TensorFlow reads once, when it is first
imported, so `use_program_defaults()` must run before anything imports
`tensorflow` or `keras`; afterwards it changes nothing and says so. A value
the user has already set always wins (`TF_ENABLE_ONEDNN_OPTS=0 python -m
training.train ...` turns the oneDNN kernels off again;
`TF_CPP_MIN_LOG_LEVEL=0` shows every start-up line).

`TF_CPP_MIN_LOG_LEVEL` alone does not silence the start-up lines: the
oneDNN and CUDA-stub messages are logged by static initialisers of
TensorFlow's shared libraries (two of them, hence each line twice), through
absl before TensorFlow has applied the level ("All log messages before
absl::InitializeLog() is called are written to STDERR"). Neither absl nor
glog environment variables reach them either. So the programs also apply the
level to what `import tensorflow` writes to file descriptor 2
(`startup_lines_filtered`).
"""

import contextlib
import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile
import warnings

PROGRAM_DEFAULTS = {
    # INFO/WARNING/ERROR start-up chatter (CUDA probing on CPU hosts, the
    # cuInit error where no driver is installed) hides the progress bars.
    # Real failures still raise Python exceptions.
    "TF_CPP_MIN_LOG_LEVEL": "3",
    # TensorFlow turns its oneDNN CPU kernels on only for some CPUs (not the
    # AMD EPYC this project is tested on). Measured there on the 2-stack,
    # 256-feature model at 256x256, batch 8 (benchmarks/torch_comparison.py):
    # inference 6.65 -> 8.72 images/s, a training step 1.59 -> 1.87, which
    # brings it level with PyTorch's channels_last; the small demo model is
    # within +-10% either way.
    "TF_ENABLE_ONEDNN_OPTS": "1",
}

# The sentence every program's `--help` ends with (the programs have no flag
# for it: the variable works the same for every program and for Python code).
STARTUP_LINES_HELP = (
    "TensorFlow's start-up log lines are hidden: run with TF_CPP_MIN_LOG_LEVEL=0\n"
    "to show them all (1: warnings and errors, 2: errors only)."
)

# absl's line header: severity, MMDD, time, thread id, file:line]
ABSL_LINE = re.compile(r"^([IWEF])\d{4} [\d:.]+\s+\d+ \S+:\d+\] ")
ABSL_SEVERITY = {"I": 0, "W": 1, "E": 2, "F": 3}
ABSL_BANNER = "All log messages before absl::InitializeLog() is called"


def use_program_defaults(environ=None):
    """Sets every `PROGRAM_DEFAULTS` variable the user has not set, and (for
    the real environment) filters TensorFlow's start-up lines by the level.

    Returns the names it set. Warns when TensorFlow is already imported,
    because then the settings no longer take effect in this process.
    """
    use_real_environment = environ is None
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
    if use_real_environment:
        filter_tensorflow_import()
    return chosen


def is_hidden_startup_line(line, min_log_level):
    """True for an absl line below `min_log_level` (TF_CPP_MIN_LOG_LEVEL:
    0 all, 1 no INFO, 2 no WARNING, 3 no ERROR) or absl's pre-init banner."""
    if ABSL_BANNER in line:
        return min_log_level >= 1
    match = ABSL_LINE.match(line)
    return bool(match) and ABSL_SEVERITY[match.group(1)] < min_log_level


def tensorflow_log_level(environ=None):
    """`TF_CPP_MIN_LOG_LEVEL` as an int (0 when unset or not a number)."""
    value = (os.environ if environ is None else environ).get("TF_CPP_MIN_LOG_LEVEL")
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


@contextlib.contextmanager
def startup_lines_filtered(min_log_level):
    """Captures file descriptor 2 (where C++ code writes) in the block, then
    writes back every line except the hidden start-up lines."""
    try:
        sys.stderr.flush()
        saved_stderr = os.dup(2)
    except (OSError, ValueError):  # no usable descriptor 2: nothing to filter
        yield
        return
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved_stderr, 2)
            os.close(saved_stderr)
            captured.seek(0)
            lines = captured.read().decode(errors="replace").splitlines(True)
            kept = [
                line
                for line in lines
                if not is_hidden_startup_line(line, min_log_level)
            ]
            sys.stderr.write("".join(kept))
            sys.stderr.flush()


class _QuietLoader(importlib.abc.Loader):
    """Runs the wrapped loader of `tensorflow` inside `startup_lines_filtered`."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        with startup_lines_filtered(tensorflow_log_level()):
            self.loader.exec_module(module)

    def __getattr__(self, name):  # resources and source go to the real loader
        return getattr(self.loader, name)


class _QuietTensorFlowFinder(importlib.abc.MetaPathFinder):
    """Finds `tensorflow` once (where the other finders would) and hands it
    to `_QuietLoader`; every other module passes through."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


def filter_tensorflow_import():
    """Makes the first `import tensorflow` (direct or through Keras) hide
    the start-up lines below `TF_CPP_MIN_LOG_LEVEL`. Returns False when
    TensorFlow is already imported or the filter is already in place."""
    if "tensorflow" in sys.modules or any(
        isinstance(finder, _QuietTensorFlowFinder) for finder in sys.meta_path
    ):
        return False
    sys.meta_path.insert(0, _QuietTensorFlowFinder())
    return True
