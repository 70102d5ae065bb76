"""The project's wheel built from this checkout and installed into a fresh
virtual environment, for tests that run the console scripts as a user does.

The venv sees the system site-packages (TensorFlow is not installed again),
where this checkout may also be installed in editable mode; the venv's own
site-packages come first on `sys.path`.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

from tests.train_helpers import PROJECT_ROOT

# What `pip wheel .` reads; copied so that a stale build/ in the checkout
# can never leak into the wheel (setuptools does not clean it).
SOURCES = ("setup.py", "pyproject.toml", "README.md", "requirements.txt",
           "requirements-dev.txt", "keras_hourglass", "training",
           "evaluation")  # fmt: skip


def run(command, cwd, timeout=300, **extra_environment):
    """Runs `command` in `cwd` without the checkout on PYTHONPATH."""
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    environment.update(TF_CPP_MIN_LOG_LEVEL="2", **extra_environment)
    return subprocess.run(
        [str(part) for part in command], cwd=cwd, env=environment,
        capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


# Runs the console scripts given as JSON commands one after another, each
# through its launcher file as the shell runs it (`sys.argv[0]` the launcher),
# its output captured; stops at the first that fails. Writes what each
# returned as JSON to the file named last.
SCRIPTS_IN_ONE_PROCESS = """
import contextlib, io, json, runpy, sys, traceback
*commands, results_file = sys.argv[1:]
results = []
for command in map(json.loads, commands):
    sys.argv = command
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            runpy.run_path(command[0], run_name="__main__")
            code = 0
        except SystemExit as stopped:
            code = stopped.code if isinstance(stopped.code, int) else int(
                stopped.code is not None)
        except BaseException:
            traceback.print_exc()
            code = 1
    results.append([code, stdout.getvalue(), stderr.getvalue()])
    if code:
        break
with open(results_file, "w") as handle:
    json.dump(results, handle)
"""


def run_in_one_process(bin_dir, commands, cwd, timeout=900):
    """Runs console-script `commands` ([script path, *arguments]) in one
    Python process of the venv at `bin_dir`, as `run` runs each alone: one
    TensorFlow start-up for them all. Returns a CompletedProcess for each,
    up to the first that failed."""
    handle, results_file = tempfile.mkstemp(suffix=".json", dir=cwd)
    os.close(handle)
    encoded = [json.dumps([str(part) for part in command]) for command in commands]
    process = run([bin_dir / "python", "-c", SCRIPTS_IN_ONE_PROCESS, *encoded,
                   results_file], cwd=cwd, timeout=timeout)  # fmt: skip
    assert process.returncode == 0, process.stderr[-3000:]
    with open(results_file) as handle:
        results = json.load(handle)
    os.remove(results_file)
    return [
        subprocess.CompletedProcess(command, code, stdout, stderr)
        for command, (code, stdout, stderr) in zip(commands, results)
    ]


def copy_sources(source):
    """Copies what the wheel is built from into the folder `source`."""
    for name in SOURCES:
        path = PROJECT_ROOT / name
        if path.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
            shutil.copytree(path, source / name, ignore=ignore)
        else:
            source.mkdir(exist_ok=True)
            shutil.copy2(path, source / name)


def install_wheel(root):
    """Builds the wheel under `root`, installs it into `root/venv`; returns
    (venv bin folder, an empty working folder outside the checkout)."""
    source = root / "source"
    copy_sources(source)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    built = run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-q",
                 "-w", root / "dist", source], cwd=root)  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = (root / "dist").glob("keras_hourglass-*.whl")
    venv = root / "venv"
    created = run([sys.executable, "-m", "venv", "--system-site-packages", venv], root)
    assert created.returncode == 0, created.stderr[-3000:]
    bin_dir = venv / "bin"
    install = run([bin_dir / "python", "-m", "pip", "install", "-q", "--no-deps",
                   "--disable-pip-version-check", wheel], cwd=root)  # fmt: skip
    assert install.returncode == 0, install.stderr[-3000:]
    work = root / "work"
    work.mkdir()
    return bin_dir, work
