"""The wheel, installed into a fresh virtual environment (the `installed`
fixture, `tests.installed_wheel`), runs every program as a console script
from a folder outside the checkout; the modules load from the venv, never
from the checkout.
"""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.installed_wheel import run
from tests.installed_wheel import run_in_one_process
from tests.train_helpers import program_messages
from training.programs import PROGRAMS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def help_results(installed):
    """{console script: its `--help` run}, every script's launcher run in
    one process (each program imports TensorFlow before parsing flags)."""
    bin_dir, work = installed
    scripts = sorted(PROGRAMS)
    commands = [[bin_dir / script, "--help"] for script in scripts]
    return dict(zip(scripts, run_in_one_process(bin_dir, commands, cwd=work)))


@pytest.mark.parametrize("script", sorted(PROGRAMS))
def test_every_console_script_answers_help(installed, help_results, script):
    bin_dir, _ = installed
    # The launcher starts the venv's Python, as the shell runs it.
    launcher = (bin_dir / script).read_text().splitlines()
    assert launcher[0].startswith("#!") and str(bin_dir) in " ".join(launcher[:2])
    result = help_results[script]
    assert result.returncode == 0, result.stderr[-3000:]
    # The usage line names the console script, not `python -m ...`.
    assert result.stdout.startswith(f"usage: {script} ")


def test_programs_load_from_the_venv_and_install_no_generic_names(installed):
    bin_dir, work = installed
    script = (
        "import keras_hourglass_programs.training.programs, training.train, "
        "evaluation.evaluate, keras_hourglass.model\n"
        "for module in (training.train, evaluation.evaluate, keras_hourglass.model):\n"
        "    print(module.__file__)\n"
    )
    result = run([bin_dir / "python", "-c", script], cwd=work)
    assert result.returncode == 0, result.stderr[-3000:]
    files = result.stdout.split()
    assert len(files) == 3
    venv = bin_dir.parent.resolve()
    for file in files:
        assert Path(file).resolve().is_relative_to(venv), file
    for generic in ("training", "evaluation"):
        alone = run([bin_dir / "python", "-c", f"import {generic}"], cwd=work)
        assert "No module named" in alone.stderr, generic
    listing = run([bin_dir / "python", "-m", "keras_hourglass"], cwd=work)
    assert listing.returncode == 0, listing.stderr[-3000:]
    # Listed from the installed distribution's entry points: every script of
    # the table, nothing else.
    listed = [line.strip() for line in listing.stdout.splitlines()
              if line.startswith("  hourglass-")]  # fmt: skip
    assert listed == sorted(PROGRAMS)


def test_ablation_runs_its_stages_by_installed_module_names(installed):
    bin_dir, work = installed
    result = run([bin_dir / "hourglass-ablation", "--quick", "--dry-run",
                  "--out", work / "ablations"], cwd=work)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "-m keras_hourglass_programs.training.train " in result.stdout
    assert "-m keras_hourglass_programs.evaluation.evaluate " in result.stdout
    help_by_module = run(
        [bin_dir / "python", "-m", "keras_hourglass_programs.training.train", "--help"],
        cwd=work,
    )
    assert help_by_module.returncode == 0, help_by_module.stderr[-3000:]


def error_lines(result):
    """The lines a program wrote about an error; fails on a traceback."""
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    return [line for line in program_messages(result.stderr)
            if "error" in line.lower()]  # fmt: skip


def test_newcomer_mistakes_are_one_line_with_hints_for_the_wheel(installed):
    bin_dir, work = installed
    missing = work / "no-such-data"
    trained = run([bin_dir / "hourglass-train", "--data-dir", missing,
                   "--run-dir", work / "mistaken-run"], cwd=work)  # fmt: skip
    assert trained.returncode == 2
    (line,) = error_lines(trained)
    assert f"hourglass-make-tfrecords --format synthetic --out {missing}" in line
    assert "python -m training" not in trained.stderr

    for command in (
        [bin_dir / "hourglass-make-tfrecords"],
        [bin_dir / "python", "-m", "keras_hourglass_programs.training.make_tfrecords"],
    ):
        converted = run([*command, "--format", "mpii", "--annotations",
                         work / "typo.json", "--images", work,
                         "--out", work / "mistaken-data"], cwd=work)  # fmt: skip
        assert converted.returncode == 2
        (line,) = error_lines(converted)
        assert "typo.json" in line

    image = work / "person.png"
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(image)
    predicted = run([bin_dir / "hourglass-predict", "--model", work / "nope.keras",
                     "--images", image, "--out", work / "predicted"],
                    cwd=work)  # fmt: skip
    assert predicted.returncode == 2
    (line,) = error_lines(predicted)
    assert "nope.keras" in line
