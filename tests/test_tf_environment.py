import os
import subprocess
import sys

import pytest

from keras_hourglass.tf_environment import PROGRAM_DEFAULTS
from keras_hourglass.tf_environment import use_program_defaults


def test_sets_only_what_the_user_left_unset(monkeypatch):
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)
    environ = {"TF_ENABLE_ONEDNN_OPTS": "0"}
    assert use_program_defaults(environ) == ["TF_CPP_MIN_LOG_LEVEL"]
    assert environ == {"TF_ENABLE_ONEDNN_OPTS": "0", "TF_CPP_MIN_LOG_LEVEL": "2"}
    assert use_program_defaults(environ) == []


def test_warns_when_tensorflow_is_already_loaded(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow", object())
    with pytest.warns(RuntimeWarning, match="new processes only"):
        assert use_program_defaults({}) == list(PROGRAM_DEFAULTS)


@pytest.mark.slow
@pytest.mark.parametrize(
    "module",
    ["training.train", "training.quickstart", "training.export",
     "evaluation.evaluate", "evaluation.predict"],
)  # fmt: skip
def test_programs_turn_onednn_on_before_tensorflow_loads(module):
    environ = {k: v for k, v in os.environ.items() if k not in PROGRAM_DEFAULTS}
    # TensorFlow's own answer to "are the oneDNN kernels on in this process"
    # (a private module: the public API does not say).
    script = (
        f"import {module}; import tensorflow; "
        "from tensorflow.python.util import _pywrap_util_port; "
        "print(_pywrap_util_port.IsMklEnabled())"
    )
    result = subprocess.run(
        [sys.executable, "-W", "error::RuntimeWarning", "-c", script],
        env=environ, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "True"
