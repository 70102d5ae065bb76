"""The project's wheel built from this checkout and installed into a fresh
virtual environment, for tests that run the console scripts as a user does.

The venv sees the system site-packages (TensorFlow is not installed again),
where this checkout may also be installed in editable mode; the venv's own
site-packages come first on `sys.path`.
"""

import os
import shutil
import subprocess
import sys

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
