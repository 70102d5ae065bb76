"""Every program's `--help`: its usage line names the program as it was
started, and its epilog says how to show TensorFlow's start-up lines."""

import importlib
import subprocess
import sys

import pytest

from tests.train_helpers import PROJECT_ROOT
from tests.train_helpers import subprocess_environment
from training.environment import STARTUP_LINES_HELP
from training.programs import PROGRAMS
from training.programs import program_command
from training.programs import program_name


@pytest.mark.parametrize(
    "started_as, main_module, expected",
    [
        ("/venv/bin/hourglass-train", "", "hourglass-train"),
        (r"C:\venv\Scripts\hourglass-train.exe", "", "hourglass-train"),
        ("/work/training/train.py", "training.train", "python -m training.train"),
        (
            "/venv/lib/keras_hourglass_programs/training/train.py",
            "keras_hourglass_programs.training.train",
            "python -m keras_hourglass_programs.training.train",
        ),
        # Another program parsing the training flags (the quickstart), or a
        # caller in Python: the checkout's form.
        ("/venv/bin/hourglass-quickstart", "", "python -m training.train"),
        ("/usr/bin/pytest", "pytest", "python -m training.train"),
    ],
)
def test_program_name_follows_how_the_process_started(
    started_as, main_module, expected
):
    assert program_name("training.train", started_as, main_module) == expected


@pytest.mark.parametrize("script", sorted(PROGRAMS))
def test_every_program_help_ends_with_the_tensorflow_log_sentence(script, capsys):
    module_name = PROGRAMS[script][0]
    program = importlib.import_module(module_name)
    with pytest.raises(SystemExit) as exit_info:
        program.main(["--help"])
    assert exit_info.value.code == 0
    shown = capsys.readouterr().out
    # Called from Python (here pytest): the checkout's command.
    assert shown.startswith(f"usage: python -m {module_name} ")
    assert shown.rstrip().endswith(STARTUP_LINES_HELP)
    assert "TF_CPP_MIN_LOG_LEVEL=0" in STARTUP_LINES_HELP


CONSOLE_SCRIPT = "import sys\nfrom training.programs import train\nsys.exit(train())\n"


@pytest.mark.parametrize("started_as", ["hourglass-train", "python -m"])
def test_usage_names_the_console_script_or_the_module(started_as, tmp_path):
    # What pip's launcher does: a file named after the script calls the entry
    # point (the wheel itself is tested in test_packaging).
    if started_as == "python -m":
        command = [sys.executable, "-m", "training.train", "--help"]
    else:
        launcher = tmp_path / "hourglass-train"
        launcher.write_text(CONSOLE_SCRIPT)
        command = [sys.executable, str(launcher), "--help"]
    result = subprocess.run(
        command, cwd=PROJECT_ROOT, env=subprocess_environment(),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    expected = (
        "hourglass-train" if started_as != "python -m" else "python -m training.train"
    )
    assert result.stdout.startswith(f"usage: {expected} [-h]")


@pytest.mark.parametrize(
    "started_as, main_module, namespace, expected",
    [
        # A console script of the wheel: the other console scripts.
        ("/venv/bin/hourglass-train", "", "keras_hourglass_programs",
         "hourglass-make-tfrecords"),
        # The wheel's program called from Python: its console scripts exist.
        ("/venv/bin/python", "", "keras_hourglass_programs",
         "hourglass-make-tfrecords"),
        # `python -m` on the wheel: the installed module.
        ("/venv/lib/x/training/train.py", "keras_hourglass_programs.training.train",
         "keras_hourglass_programs",
         "python -m keras_hourglass_programs.training.make_tfrecords"),
        # A checkout.
        ("/work/training/train.py", "training.train", "",
         "python -m training.make_tfrecords"),
        ("/usr/bin/pytest", "pytest", "", "python -m training.make_tfrecords"),
    ],
)  # fmt: skip
def test_hints_name_programs_the_way_the_user_runs_them(
    started_as, main_module, namespace, expected
):
    command = program_command(
        "training.make_tfrecords", started_as, main_module, namespace
    )
    assert command == expected


def test_checkout_hints_name_the_editable_install(capsys):
    from training.convert_weights import torch_missing_message

    # This process runs the checkout's programs.
    assert 'pip install -e ".[torch]"' in torch_missing_message()
