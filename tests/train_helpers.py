"""Helpers shared by the training tests: tiny shards and tiny-run flags."""

import os
import subprocess
import sys
from pathlib import Path

from training import make_tfrecords
from training.programs import run_main
from training.train import main as train_main

PROJECT_ROOT = Path(__file__).resolve().parents[1]

# Two stacks (so per-stack outputs and metrics are exercised) of a 16-feature,
# depth-1 hourglass on 64x64 crops: a subprocess run spends most of its time
# tracing the training step, which grows with the number of layers.
TINY_MODEL_FLAGS = [
    "--preset", "demo", "--n-stacks", "2", "--n-features", "16", "--depth", "1",
    "--input-size", "64", "--output-size", "16", "--validation-people", "8",
    "--image-summaries", "0", "--verbose", "2", "--shuffle-buffer", "16",
    "--no-export",
]  # fmt: skip

# One stack on 32 x 32 crops: for runs whose point is the program around the
# network (kills, resumes, locks, the end of a run), the fewest layers to
# trace, save and back up.
SMALLEST_MODEL_FLAGS = TINY_MODEL_FLAGS + [
    "--n-stacks", "1", "--input-size", "32", "--output-size", "8",
]  # fmt: skip


# What TensorFlow's shared libraries print while they load, through absl,
# before TensorFlow applies TF_CPP_MIN_LOG_LEVEL (absl writes messages below
# the threshold until its log is initialised: abseil/abseil-cpp#1957).
STARTUP_NOISE = (
    "absl::InitializeLog",
    "oneDNN custom operations",
    "cudart_stub",
    "cuInit",
    "cpu_feature_guard",
    "To enable the following instructions",
)


def program_messages(stderr):
    """The lines a program itself wrote to stderr: TensorFlow's load lines
    (`STARTUP_NOISE`) left out."""
    return [
        line for line in stderr.splitlines()
        if line.strip() and not any(noise in line for noise in STARTUP_NOISE)
    ]  # fmt: skip


def subprocess_environment(**extra):
    """The environment for a child Python: project importable, TF quiet."""
    environment = dict(os.environ)
    environment["PYTHONPATH"] = str(PROJECT_ROOT)
    environment["TF_CPP_MIN_LOG_LEVEL"] = "2"
    environment.pop("TF_CONFIG", None)
    environment.update(extra)
    return environment


def make_synthetic_shards(out_dir, count=24, val_count=8):
    """Writes synthetic TFRecord shards with the project's converter (in this
    process: a child Python would spend longer importing TensorFlow)."""
    make_tfrecords.main([
        "--format", "synthetic", "--seed", "0", "--count", str(count),
        "--val-count", str(val_count), "--num-shards", "2", "--out", str(out_dir),
    ])  # fmt: skip
    return Path(out_dir)


# Runs `training.train.main(argv)` on two logical CPU devices, which must be
# configured before TensorFlow initialises: hence a fresh interpreter.
TWO_CPU_TRAIN_SCRIPT = """
import sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from training.train import main
main(sys.argv[1:])
"""


def run_training(flags, two_devices=False, timeout=400):
    """Runs the training program in a subprocess; returns CompletedProcess."""
    if two_devices:
        command = [sys.executable, "-c", TWO_CPU_TRAIN_SCRIPT, *flags]
    else:
        command = [sys.executable, "-m", "training.train", *flags]
    return subprocess.run(
        command, cwd=PROJECT_ROOT, env=subprocess_environment(),
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def run_training_here(flags, capsys):
    """Runs the training program in this process, as `python -m
    training.train` runs it (`run_main`), and returns a CompletedProcess of
    its exit status and what it printed (`capsys`). For a run whose process
    boundary is not the point: it spares a second TensorFlow start-up."""
    capsys.readouterr()
    try:
        status = run_main(lambda: train_main(flags))
    except SystemExit as stop:
        status = stop.code
    stdout, stderr = capsys.readouterr()
    if isinstance(status, str):  # what Python does with SystemExit("text")
        stderr, status = stderr + status + "\n", 1
    return subprocess.CompletedProcess(
        ["training.train", *flags], status or 0, stdout, stderr
    )
