"""Custom keypoint sets end to end with the installed wheel's programs:
convert -> train -> evaluate -> export -> predict, each exits 0, and the
run names the validation metric its joint set supports."""

import csv
import importlib.util
import json

import pytest

from tests.custom_sets import FIVE_JOINTS
from tests.custom_sets import SEVEN_JOINTS
from tests.custom_sets import write_coco_files
from tests.custom_sets import write_keypoint_csv
from tests.installed_wheel import run
from tests.installed_wheel import run_in_one_process

pytestmark = pytest.mark.slow

# A depth-1, 1-stack hourglass on 32 px crops, one step an epoch.
TINY_RUN_FLAGS = [
    "--preset", "demo", "--n-stacks", "1", "--n-features", "8", "--depth", "1",
    "--input-size", "32", "--output-size", "8", "--batch-size", "4",
    "--epochs", "2", "--steps-per-epoch", "1", "--validation-people", "4",
    "--validation-batches", "1", "--image-summaries", "1", "--verbose", "2",
    "--shuffle-buffer", "8", "--no-export",
]  # fmt: skip

# The set whose programs each run in their own process (see `run_chain`).
SEPARATE_PROCESSES = {"csv5"}

# set -> (validation metric line, its training-log column, evaluation table)
EXPECTED = {
    "csv5": ("box PCK@0.05", "val_box_pck", "box-pck"),
    "csv7": ("torso PCK@0.2", "val_pck", "pck"),
    "coco17": ("torso PCK@0.2", "val_pck", "pck"),
}


def conversion_flags(name, folder):
    """The `hourglass-make-tfrecords` flags of a generated set."""
    if name == "coco17":
        train, valid = write_coco_files(folder)
        return ["--format", "coco", "--annotations", train, "--images",
                folder / "images", "--valid-annotations", valid]  # fmt: skip
    joints, boxes = (FIVE_JOINTS, False) if name == "csv5" else (SEVEN_JOINTS, True)
    return ["--format", "csv", "--annotations",
            write_keypoint_csv(folder, joints, boxes=boxes)]  # fmt: skip


def succeeded(result):
    """The assertion message of a program run: its last output."""
    return result.returncode == 0, (result.stdout[-2000:], result.stderr[-3000:])


def chain_commands(name, bin_dir, folder):
    """The five console-script commands of a set's chain, in order."""
    data, run_dir, exports = folder / "data", folder / "run", folder / "exports"
    evaluate = [bin_dir / "hourglass-evaluate", "--model", run_dir, "--data", data,
                "--out", folder / "eval", "--no-flip", "--batch-size", "4",
                "--num-examples", "2"]  # fmt: skip
    if name == "coco17":
        evaluate += ["--metric", "coco-ap", "--coco-annotations",
                     folder / "source" / "valid.json"]  # fmt: skip
    images = folder / "source" / ("images" if name == "coco17" else "")
    conversion = conversion_flags(name, folder / "source")
    return [
        [bin_dir / "hourglass-make-tfrecords", *conversion, "--out", data],
        [bin_dir / "hourglass-train", *TINY_RUN_FLAGS, "--data-dir", data,
         "--run-dir", run_dir],
        evaluate,
        [bin_dir / "hourglass-export", "--model", run_dir, "--out", exports],
        [bin_dir / "hourglass-predict", "--model", exports, "--images",
         images / "person000.jpg", "--out", folder / "predict"],
    ]  # fmt: skip


def run_chain(name, bin_dir, folder, cwd):
    """Runs the chain of set `name`: csv5's programs each in its own process,
    as a user runs them one after another (a fresh process loads the run,
    the dataset and the export from their files alone, and the run's models
    are loaded by plain Keras on each backend); the other sets', to
    the same launchers in one process, which skips four TensorFlow start-ups.
    Returns the runs up to the first that failed."""
    commands = chain_commands(name, bin_dir, folder)
    if name not in SEPARATE_PROCESSES:
        return run_in_one_process(bin_dir, commands, cwd=cwd)
    results = []
    for command in commands:
        results.append(run(command, cwd=cwd, timeout=600))
        if results[-1].returncode:
            break
    return results


def assert_every_model_loads_with_plain_keras(run_dir, bin_dir, cwd):
    """Every .keras file a run writes loads with plain load_model in a
    process that imports nothing of the project, on each installed backend."""
    checkpoints = sorted((run_dir / "checkpoints").glob("*.keras"))
    files = [run_dir / "final.keras", *checkpoints]
    assert [path.name for path in files] == [
        "final.keras",
        "best.keras",
        "latest.keras",
    ]
    for backend in ("tensorflow", "jax"):
        if importlib.util.find_spec(backend) is None:
            continue
        load = f"import keras\nfor path in {[str(path) for path in files]}:\n"
        load += "    print(keras.saving.load_model(path).name)\n"
        loaded = run([bin_dir / "python", "-c", load], cwd=cwd, KERAS_BACKEND=backend)
        assert loaded.returncode == 0, loaded.stderr[-3000:]
        assert loaded.stdout.split() == ["stacked_hourglass"] * 3


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_generated_set_converts_trains_evaluates_exports_and_predicts(
    installed, name
):
    bin_dir, work = installed
    folder = work / name
    data, run_dir = folder / "data", folder / "run"
    runs = iter(run_chain(name, bin_dir, folder, cwd=work))
    converted = next(runs)
    assert succeeded(converted)[0], succeeded(converted)[1]
    # The dataset records the command as it was run.
    created_with = json.loads((data / "dataset.json").read_text())["created_with"]
    assert created_with["command"].startswith("hourglass-make-tfrecords --format ")

    trained = next(runs)
    assert succeeded(trained)[0], succeeded(trained)[1]
    line, column, table = EXPECTED[name]
    assert f"validation metric: {line}" in trained.stdout
    with open(run_dir / "training_log.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2 and all(row[column] for row in rows)
    assert f"validation {line.split('@')[0]}" in trained.stdout  # the summary
    if name in SEPARATE_PROCESSES:
        assert_every_model_loads_with_plain_keras(run_dir, bin_dir, work)

    evaluated = next(runs)
    assert succeeded(evaluated)[0], succeeded(evaluated)[1]
    results = json.loads((folder / "eval" / "results.json").read_text())
    assert results["metric"] == table
    assert (folder / "eval" / f"{table}.md").is_file()
    if name == "coco17":
        for stat in ("AP", "AP50", "AP75", "APm", "APl", "AR"):
            assert f" {stat} " in evaluated.stdout
        assert "ground-truth boxes" in evaluated.stdout
        coco_ap = json.loads((folder / "eval" / "coco_ap.json").read_text())
        assert coco_ap["boxes"] == "ground-truth boxes"

    exported = next(runs)
    assert succeeded(exported)[0], succeeded(exported)[1]

    predicted = next(runs)
    assert succeeded(predicted)[0], succeeded(predicted)[1]
    keypoints = json.loads((folder / "predict" / "keypoints.json").read_text())
    metadata = json.loads((data / "dataset.json").read_text())
    assert list(keypoints[0]["keypoints"]) == metadata["joint_names"]
