"""Installs the keras_hourglass library (the programs in training/ and
evaluation/ run from a checkout with `python -m`)."""

from pathlib import Path

from setuptools import find_packages
from setuptools import setup


def read_requirements(path):
    lines = Path(path).read_text().splitlines()
    return [line for line in lines if line and not line.startswith(("#", "-r"))]


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
    packages=find_packages(include=["keras_hourglass", "keras_hourglass.*"]),
    install_requires=read_requirements("requirements.txt"),
    extras_require={
        "dev": read_requirements("requirements-dev.txt"),
        # Only training.convert_weights reads PyTorch checkpoints; the library
        # loads their arrays without it. The CPU wheel is enough.
        "torch": ["torch>=2.4,<3"],
    },
    license="BSD-3-Clause",
)
