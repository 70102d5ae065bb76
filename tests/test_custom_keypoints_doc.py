"""Runs every command of docs/custom-keypoints.md, in order, on tiny
generated data: a 14-joint keypoint CSV, the PyTorch-port fixture standing in
for the published 8-stack checkpoint, and whole photos with a detections
file. Each `hourglass-*` command runs the program's `main` in this process
(the module its console script runs, `training.programs`), with flags
appended that shrink the run: the doc's values stay, later flags win."""

import importlib
import json
import re
import shlex

import PIL.Image
import pytest

from keras_hourglass.synthetic.people import iterate_synthetic
from keras_hourglass.transforms import box_from_person
from tests.conftest import PROJECT_ROOT
from tests.custom_keypoint_helpers import LSP_JOINTS
from tests.custom_keypoint_helpers import write_keypoint_csv
from tests.test_weights import STATE_DICT_FILE
from tests.training.test_finetune import PORT_FLAGS
from training.programs import PROGRAMS

DOC = PROJECT_ROOT / "docs" / "custom-keypoints.md"
# The download the test does not make: the port fixture stands in for it.
DOWNLOAD = "curl"
SUBSTITUTIONS = {"checkpoint_8hg.pt": str(STATE_DICT_FILE)}
SHRINK = {
    "hourglass-convert-weights": ["--input-size", "64"],
    # One epoch, inside the doc's frozen phase (tests/training/test_finetune.py
    # trains through both).
    "hourglass-train": PORT_FLAGS + [
        "--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "4",
        "--validation-people", "4", "--image-summaries", "0", "--no-export",
        "--verbose", "2",
    ],  # fmt: skip
    "hourglass-evaluate": ["--num-examples", "2"],
    "hourglass-export": ["--no-warmup"],
}


def doc_commands():
    """The commands of the doc's bash blocks, continuation lines joined."""
    blocks = re.findall(r"```bash\n(.*?)```", DOC.read_text(), re.S)
    text = "\n".join(blocks).replace("\\\n", " ")
    return [shlex.split(line) for line in text.splitlines() if line.strip()]


def prepare_inputs(folder):
    """The doc's inputs: the CSV and its images, photos and detections."""
    write_keypoint_csv(folder / "my_keypoints", LSP_JOINTS, count=12, val_count=6)
    (folder / "photos").mkdir()
    detections = []
    people = iterate_synthetic(seed=5, count=2)
    for image_id, (image, annotation) in enumerate(people, start=1):
        name = f"{image_id:012d}.jpg"
        PIL.Image.fromarray(image).save(folder / "photos" / name)
        box = box_from_person(annotation["center"], annotation["scale"])
        detections.append({
            "image_id": image_id if image_id == 1 else name,
            "bbox": [float(value) for value in box], "score": 0.9,
        })  # fmt: skip
    (folder / "person_detections.json").write_text(json.dumps(detections))


def run_program(command):
    script, *argv = command
    argv = [SUBSTITUTIONS.get(word, word) for word in argv] + SHRINK.get(script, [])
    module = importlib.import_module(PROGRAMS[script][0])
    try:
        result = module.main(argv)
    except SystemExit as stopped:
        result = stopped.code
    assert result in (0, None) or not isinstance(result, int), (command, result)


@pytest.mark.slow
def test_every_command_of_the_walkthrough_runs(tmp_path, monkeypatch):
    commands = doc_commands()
    programs = [command[0] for command in commands]
    assert set(programs) <= set(PROGRAMS) | {DOWNLOAD}, programs
    assert programs[0] == "hourglass-make-tfrecords"
    prepare_inputs(tmp_path)
    monkeypatch.chdir(tmp_path)
    for command in commands:
        if command[0] != DOWNLOAD:
            run_program(command)
    assert (tmp_path / "data/my_keypoints/dataset.json").is_file()
    config = json.loads((tmp_path / "runs/my_keypoints/config.json").read_text())
    assert config["init_from"] == "pretrained/hourglass8_mpii.keras"
    assert (tmp_path / "eval/my_keypoints/results.json").is_file()
    assert (tmp_path / "exports/my_keypoints/1/saved_model.pb").is_file()
    rows = (tmp_path / "out/photos/keypoints.csv").read_text().splitlines()
    assert len(rows) == 1 + 2  # a header, then the two detected people
