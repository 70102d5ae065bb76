"""Multi-worker training: two worker processes on 127.0.0.1 under
`MultiWorkerMirroredStrategy` end with identical weights, equal to one process
running the same custom loop over two local replicas on the same global
batches (same per-replica split, so batch-norm statistics match too)."""

import json
import shutil
import socket
import subprocess
import sys

import numpy as np
import pytest

from tests.train_helpers import PROJECT_ROOT
from tests.train_helpers import TINY_MODEL_FLAGS
from tests.train_helpers import subprocess_environment

RUN_FLAGS = [
    "--batch-size", "4", "--epochs", "1", "--steps-per-epoch", "3",
    "--backup-every-steps", "100", "--lr-drop-patience", "100", "--seed", "3",
    # SGD: updates linear in the gradients, so summation-order rounding stays
    # at float level (RMSprop's first steps amplify it near zero gradients).
    "--optimizer", "sgd", "--learning-rate", "0.05",
]  # fmt: skip

# One process, two logical CPU devices (set before TensorFlow initialises),
# the same custom loop under MirroredStrategy.
REFERENCE_SCRIPT = """
import sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from training.config import parse_config
from training.multiworker import train_multi_worker
from training.builders import read_dataset
config = parse_config(sys.argv[1:])
metadata, train_files, valid_files = read_dataset(config)
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
assert strategy.num_replicas_in_sync == 2
train_multi_worker(config, strategy, metadata, train_files, valid_files)
"""


def free_ports(count):
    """Ports the OS reports free right now on 127.0.0.1."""
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def worker_environment(addresses, index):
    cluster = {"cluster": {"worker": addresses}}
    cluster["task"] = {"type": "worker", "index": index}
    return subprocess_environment(TF_CONFIG=json.dumps(cluster))


def load_weights(path):
    import keras

    return [np.asarray(weight) for weight in keras.saving.load_model(
        path, compile=False).weights]  # fmt: skip


def initial_trainable_weights(flags):
    """The trainable weights the custom loop starts from (same seed, same
    builder), before any step."""
    import keras

    from training.builders import build_model
    from training.config import parse_config

    config = parse_config(flags + ["--run-dir", "unused"])
    keras.utils.set_random_seed(config.seed)
    model = build_model(config, 16)
    return [np.asarray(weight) for weight in model.trainable_weights]


def run_workers(flags, run_dirs, timeout=400):
    """Runs one `training.train` worker per run directory on 127.0.0.1;
    returns their (exit code, output) pairs."""
    addresses = [f"127.0.0.1:{port}" for port in free_ports(len(run_dirs))]
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "training.train", *flags,
             "--run-dir", str(run_dir)],
            cwd=PROJECT_ROOT, env=worker_environment(addresses, index),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        for index, run_dir in enumerate(run_dirs)
    ]
    outputs = [worker.communicate(timeout=timeout)[0] for worker in workers]
    return [(worker.returncode, output) for worker, output in zip(workers, outputs)]


@pytest.fixture(scope="module")
def one_epoch_job(tiny_shards, tmp_path_factory):
    """(flags, run directory, [(exit code, output)] per worker) of a job of
    two workers that trained one epoch into one shared run directory: run
    once, for the test that checks its weights and the one that resumes a
    copy of it."""
    flags = TINY_MODEL_FLAGS + RUN_FLAGS + ["--data-dir", str(tiny_shards)]
    shared = tmp_path_factory.mktemp("one_epoch_job") / "shared_run"
    return flags, shared, run_workers(flags, [shared, shared])


@pytest.mark.slow
def test_two_workers_match_one_process_on_the_same_global_batches(
    one_epoch_job, tmp_path
):
    import keras

    flags, shared, results = one_epoch_job
    for returncode, output in results:
        assert returncode == 0, output[-3000:]
    assert "multi-worker training on 2 replica(s)" in results[0][1]
    reference = subprocess.run(
        [sys.executable, "-c", REFERENCE_SCRIPT, *flags,
         "--run-dir", str(tmp_path / "reference")],
        cwd=PROJECT_ROOT, env=subprocess_environment(), capture_output=True,
        text=True, timeout=400,
    )  # fmt: skip
    assert reference.returncode == 0, reference.stderr[-3000:]

    chief = keras.saving.load_model(shared / "final.keras", compile=False)
    chief_weights = [np.asarray(weight) for weight in chief.weights]
    chief.load_weights(shared / "final_worker1.weights.h5")
    other_weights = [np.asarray(weight) for weight in chief.weights]
    reference_weights = load_weights(tmp_path / "reference" / "final.keras")
    for mine, theirs in zip(chief_weights, other_weights):
        np.testing.assert_array_equal(mine, theirs)
    # The two runs differ only by rounding (collective vs local all-reduce
    # order, CPU kernels) amplified by batch norm over 2 samples: observed
    # up to 1.4e-4 per weight on an AVX-512 CPU and 9e-4 on an AVX2 one after
    # 3 steps. So compare what training changed: both runs must have moved the
    # weights from the same initial values the same way, within 10% of that
    # move. The gap came to 5.0% of the move on an AMD AVX2 host with oneDNN
    # kernels (6.4% without); a gradient summed instead of averaged over the
    # replicas would be a 100% gap with SGD, a replica's batch left out tens
    # of percent.
    initial = initial_trainable_weights(flags)
    trainable = [i for i, w in enumerate(chief.weights) if w.trainable]
    gap = np.sqrt(sum(np.sum((chief_weights[i] - reference_weights[i]) ** 2)
                      for i in trainable))  # fmt: skip
    moved = np.sqrt(sum(np.sum((reference_weights[i] - start) ** 2)
                        for i, start in zip(trainable, initial)))  # fmt: skip
    size = np.sqrt(sum(np.sum(start**2) for start in initial))
    # A few SGD steps move the weights a little: a much larger "move" would
    # mean `initial` is not the runs' real starting point.
    assert 0.0 < moved < 0.5 * size, (moved, size)
    assert gap < 0.10 * moved, (gap, moved)
    for mine, theirs in zip(chief_weights, reference_weights):
        np.testing.assert_allclose(mine, theirs, rtol=1e-2, atol=3e-3)
    csv_rows = (shared / "training_log.csv").read_text().splitlines()
    assert len(csv_rows) == 2 and "val_pckh_stack2" in csv_rows[0]


@pytest.mark.slow
def test_every_worker_resumes_from_the_chiefs_backup(one_epoch_job, tmp_path):
    import keras

    flags, job_dir, results = one_epoch_job
    for returncode, output in results:
        assert returncode == 0, output[-3000:]
    shared = shutil.copytree(job_dir, tmp_path / "shared_run")

    # A second epoch: the worker that is not the chief has no backup of its
    # own (it wrote to scratch), so it must take the chief's, or it would
    # start over at step 0 and plan 6 steps against the chief's 3.
    longer = [*flags, "--epochs", "2"]
    results = run_workers(longer, [shared, shared])
    for returncode, output in results:
        assert returncode == 0, output[-3000:]
        assert "(global step 3)" in output, output[-3000:]
    chief = keras.saving.load_model(shared / "final.keras", compile=False)
    chief_weights = [np.asarray(weight) for weight in chief.weights]
    chief.load_weights(shared / "final_worker1.weights.h5")
    for mine, theirs in zip(chief_weights, chief.weights):
        np.testing.assert_array_equal(mine, np.asarray(theirs))
    csv_rows = (shared / "training_log.csv").read_text().splitlines()
    assert len(csv_rows) == 3  # header, epoch 1, epoch 2: no row lost or doubled
    # The chief records its checked final model, as a single-machine run does.
    record = json.loads((shared / "completion.json").read_text())
    assert record["final_model"]["global_step"] == 6

    # A worker that cannot see the chief's backup (its own, empty run dir)
    # stops the whole job with one message instead of training other steps.
    results = run_workers(
        [*flags, "--epochs", "3"], [shared, tmp_path / "unshared"], timeout=200
    )
    for returncode, output in results:
        assert returncode != 0
        assert "the workers resume at different steps" in output, output[-3000:]
