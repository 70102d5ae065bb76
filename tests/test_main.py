"""`python -m keras_hourglass` lists the installed console programs without
importing any of them (importing the package loads Keras, which registers
the loss; the programs stay out)."""

import subprocess
import sys

import pytest

from keras_hourglass.__main__ import console_scripts
from tests.train_helpers import PROJECT_ROOT
from tests.train_helpers import subprocess_environment
from training.programs import PROGRAMS


def test_an_uninstalled_distribution_lists_nothing():
    assert console_scripts("keras-hourglass-not-installed") == []


def test_lists_the_console_scripts_and_imports_no_program():
    if not console_scripts():
        pytest.skip("keras-hourglass is not installed in this environment")
    script = (
        "import runpy, sys\n"
        "runpy.run_module('keras_hourglass', run_name='__main__')\n"
        "loaded = [name for name in sys.modules if name.split('.')[0] in "
        "('training', 'evaluation')]\n"
        "print('loaded:', loaded)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=PROJECT_ROOT,
        env=subprocess_environment(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    listed = [line.strip() for line in result.stdout.splitlines()
              if line.startswith("  hourglass-")]  # fmt: skip
    assert listed == sorted(PROGRAMS)
    assert result.stdout.splitlines()[-1] == "loaded: []"
