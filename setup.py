"""Installs the keras_hourglass library and its programs: training/ and
evaluation/ become `keras_hourglass_programs.training` and `.evaluation` (no
generic top-level names), with the `hourglass-*` console scripts of
training/programs.py.
"""

import runpy
from pathlib import Path

from setuptools import find_packages
from setuptools import setup

PROGRAMS_NAMESPACE = "keras_hourglass_programs"
PROGRAM_FOLDERS = ("training", "evaluation")


def read_requirements(path):
    lines = Path(path).read_text().splitlines()
    return [line for line in lines if line and not line.startswith(("#", "-r"))]


def console_scripts():
    """`hourglass-train = keras_hourglass_programs.training.programs:train`, ...
    read from the table without importing the package."""
    table = runpy.run_path("training/programs.py")
    entry = f"{PROGRAMS_NAMESPACE}.training.programs"
    return [
        f"{script} = {entry}:{table['entry_point_name'](script)}"
        for script in table["PROGRAMS"]
    ]


setup(
    name="keras-hourglass",
    version="0.1.0",
    description=(
        "Stacked Hourglass Networks for Human Pose Estimation "
        "(Newell, Yang, Deng, ECCV 2016) in Keras 3 / TensorFlow"
    ),
    long_description=Path("README.md").read_text(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=[
        *find_packages(include=["keras_hourglass", "keras_hourglass.*"]),
        *(f"{PROGRAMS_NAMESPACE}.{folder}" for folder in PROGRAM_FOLDERS),
    ],
    package_dir={f"{PROGRAMS_NAMESPACE}.{f}": f for f in PROGRAM_FOLDERS},
    entry_points={"console_scripts": console_scripts()},
    install_requires=read_requirements("requirements.txt"),
    extras_require={
        "dev": read_requirements("requirements-dev.txt"),
        # Only training.convert_weights reads PyTorch files (the CPU wheel will do).
        "torch": ["torch>=2.4,<3"],
        # ONNX heatmap files: tf2onnx writes them (as Keras' own ONNX export
        # does), onnxruntime runs them; pinned with requirements.txt's stack.
        "onnx": ["onnx==1.23.2", "onnxruntime==1.32.0", "tf2onnx==1.17.0"],
    },
    license="BSD-3-Clause",
)
