"""TensorFlow's environment: every program sets it before TensorFlow loads
(quiet start-up, oneDNN kernels), and a value the user set wins."""

import json
import os
import subprocess
import sys

import pytest

from tests.train_helpers import PROJECT_ROOT
from tests.train_helpers import STARTUP_NOISE
from training.environment import PROGRAM_DEFAULTS
from training.environment import use_program_defaults
from training.programs import PROGRAMS


def test_sets_only_what_the_user_left_unset(monkeypatch):
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)
    environ = {"TF_ENABLE_ONEDNN_OPTS": "0"}
    assert use_program_defaults(environ) == ["TF_CPP_MIN_LOG_LEVEL"]
    assert environ == {"TF_ENABLE_ONEDNN_OPTS": "0", "TF_CPP_MIN_LOG_LEVEL": "3"}
    assert use_program_defaults(environ) == []


def test_warns_when_tensorflow_is_already_loaded(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow", object())
    with pytest.warns(RuntimeWarning, match="new processes only"):
        assert use_program_defaults({}) == list(PROGRAM_DEFAULTS)


def environment_without_defaults(**environment):
    """This process's environment minus the variables the programs set."""
    environ = {k: v for k, v in os.environ.items() if k not in PROGRAM_DEFAULTS}
    environ.update(PYTHONPATH=str(PROJECT_ROOT), **environment)
    return environ


def onednn_enabled_after_importing(module, **environment):
    """TensorFlow's own answer to "are the oneDNN kernels on" in a process
    that imports `module` and then TensorFlow (a private module: the public
    API does not say)."""
    script = (
        f"import {module}; import tensorflow; "
        "from tensorflow.python.util import _pywrap_util_port; "
        "print(_pywrap_util_port.IsMklEnabled())"
    )
    result = subprocess.run(
        [sys.executable, "-W", "error::RuntimeWarning", "-c", script],
        cwd=PROJECT_ROOT, env=environment_without_defaults(**environment),
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip().splitlines()[-1] == "True"


PROGRAM_MODULES = [
    *sorted(module for module, _ in PROGRAMS.values()),
    "training.programs",
    "benchmarks.model_benchmark",
]

# Imports each module named on the command line, then TensorFlow, in one
# process, and prints {module: TF_ENABLE_ONEDNN_OPTS when something first
# imported TensorFlow}. TensorFlow reads the variable once, as it loads, so
# the import is stopped at that moment: the next module starts again from
# the environment without the variable and none of the project loaded.
SETTING_AT_TENSORFLOW_IMPORT_SCRIPT = """
import importlib
import json
import os
import sys

# The project, and Keras, which an import stopped at TensorFlow leaves half loaded.
RELOADED = {"training", "evaluation", "benchmarks", "keras_hourglass", "keras"}


class TensorFlowImport(BaseException):
    # A BaseException, so that no `except ImportError` or `except Exception`
    # in the module can swallow it and go on.
    pass


class StopAtTensorFlow:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "tensorflow":
            raise TensorFlowImport(os.environ.get("TF_ENABLE_ONEDNN_OPTS"))
        return None


sys.meta_path.insert(0, StopAtTensorFlow())
environment = dict(os.environ)
setting = {}
for module in sys.argv[1:]:
    os.environ.clear()
    os.environ.update(environment)
    for name in list(sys.modules):
        if name.split(".")[0] in RELOADED:
            del sys.modules[name]
    try:
        importlib.import_module(module)
        import tensorflow  # noqa: F401 (what the program does next)
    except TensorFlowImport as stop:
        setting[module] = stop.args[0]
print(json.dumps(setting))
"""


@pytest.fixture(scope="module")
def onednn_setting_at_tensorflow_import():
    """{program module: TF_ENABLE_ONEDNN_OPTS as TensorFlow would have read
    it}, for every module of `PROGRAM_MODULES`, from one process."""
    result = subprocess.run(
        [sys.executable, "-W", "error::RuntimeWarning", "-c",
         SETTING_AT_TENSORFLOW_IMPORT_SCRIPT, *PROGRAM_MODULES],
        cwd=PROJECT_ROOT, env=environment_without_defaults(),
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("module", PROGRAM_MODULES)
def test_programs_turn_onednn_on_before_tensorflow_loads(
    module, onednn_setting_at_tensorflow_import
):
    assert onednn_setting_at_tensorflow_import[module] == "1"


@pytest.mark.slow
def test_tensorflow_turns_onednn_on_for_a_program():
    # What the variable set before the import means to TensorFlow itself.
    assert onednn_enabled_after_importing("training.train")


@pytest.mark.slow
def test_the_user_value_wins_over_the_program_default():
    assert not onednn_enabled_after_importing(
        "training.train", TF_ENABLE_ONEDNN_OPTS="0"
    )


def run_converter(tmp_path, **environment):
    command = [sys.executable, "-m", "training.make_tfrecords", "--format",
               "synthetic", "--count", "2", "--val-count", "1", "--out",
               str(tmp_path / "data")]  # fmt: skip
    return subprocess.run(
        command, cwd=PROJECT_ROOT, env=environment_without_defaults(**environment),
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="TensorFlow 2.21 logs these while its libraries load, before it applies "
    "TF_CPP_MIN_LOG_LEVEL (absl logs before it is initialised: "
    "abseil/abseil-cpp#1957)",
)
def test_a_program_starts_without_tensorflow_chatter(tmp_path):
    result = run_converter(tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    for noise in STARTUP_NOISE:
        assert noise not in result.stderr, result.stderr[-2000:]
    assert (tmp_path / "data" / "dataset.json").is_file()


@pytest.mark.slow
def test_the_user_level_shows_the_start_up_lines_again(tmp_path):
    result = run_converter(tmp_path, TF_CPP_MIN_LOG_LEVEL="0")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "oneDNN custom operations" in result.stderr
