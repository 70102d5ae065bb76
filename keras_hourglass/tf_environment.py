"""Process-wide TensorFlow settings the programs choose before TF loads.

Both are environment variables that TensorFlow reads once, when it is first
imported, so `use_program_defaults()` must run before anything imports
`tensorflow` or `keras`; afterwards it changes nothing and says so. A value
the user has already set always wins (`TF_ENABLE_ONEDNN_OPTS=0 python -m
training.train ...` turns the oneDNN kernels off again).
"""

import os
import sys
import warnings

PROGRAM_DEFAULTS = {
    # INFO/WARNING start-up chatter (CUDA probing on CPU hosts) hides the
    # progress bars; errors still show.
    "TF_CPP_MIN_LOG_LEVEL": "2",
    # TensorFlow turns its oneDNN CPU kernels on only for some CPUs (not the
    # AMD EPYC this project is tested on). Measured there on the 2-stack,
    # 256-feature model at 256x256, batch 8 (benchmarks/torch_comparison.py):
    # inference 6.65 -> 8.72 images/s, a training step 1.59 -> 1.87, which
    # brings it level with PyTorch's channels_last; the small demo model is
    # within +-10% either way.
    "TF_ENABLE_ONEDNN_OPTS": "1",
}


def use_program_defaults(environ=None):
    """Sets every `PROGRAM_DEFAULTS` variable the user has not set.

    Returns the names it set. Warns when TensorFlow is already imported,
    because then the settings no longer take effect in this process.
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
