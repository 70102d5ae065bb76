"""Which PCK a run validates with, chosen from what `dataset.json` records,
and the one-line error for a choice the data cannot give."""

import csv

import pytest

from tests.custom_sets import FIVE_JOINTS
from tests.custom_sets import write_keypoint_csv
from tests.train_helpers import TINY_MODEL_FLAGS
from training import make_tfrecords
from training.callbacks import choose_validation_metric
from training.config import ConfigError
from training.config import TrainConfig
from training.train import main as train_main

SEVEN = ["head_top", "l_shoulder", "r_shoulder", "l_hip", "r_hip", "l_wrist", "r_wrist"]


def metadata(joint_names, head_boxes=0, **fields):
    """A `dataset.json` dict whose valid split has `head_boxes` of 4 people."""
    splits = {"valid": {"files": [], "count": 4, "head_boxes": head_boxes}}
    return {"joint_names": joint_names, "splits": splits, **fields}


def chosen(joint_names, requested="auto", head_boxes=0, people=8, **fields):
    config = TrainConfig(validation_metric=requested, validation_people=people)
    return choose_validation_metric(config, metadata(joint_names, head_boxes, **fields))


def test_auto_takes_head_boxes_then_a_torso_then_the_person_box():
    assert chosen(SEVEN, head_boxes=4) == "pckh"
    assert chosen(SEVEN) == "pck"
    assert chosen(["head", "l_wrist", "r_wrist", "l_ankle", "r_ankle"]) == "box-pck"
    # What the file records wins over the names.
    assert chosen(SEVEN, torso_joints=None) == "box-pck"
    assert chosen(["a", "b", "c"], torso_joints=[0, 2]) == "pck"
    assert chosen(SEVEN, people=0) == "none"


@pytest.mark.parametrize("requested", ["pckh", "pck", "box-pck", "none"])
def test_an_explicit_choice_the_data_supports_is_kept(requested):
    assert chosen(SEVEN, requested, head_boxes=1) == requested


@pytest.mark.parametrize(
    ("requested", "joint_names", "people", "message"),
    [
        ("pckh", SEVEN, 8, "--validation-metric pckh: people lack head boxes; "
         "use auto or pck or box-pck"),
        ("pck", ["head", "tail"], 8, "--validation-metric pck: the joint set names "
         "no torso (joints l_shoulder and r_hip); use auto or box-pck"),
        ("box-pck", SEVEN, 0, "--validation-metric box-pck needs "
         "--validation-people > 0"),
    ],
)  # fmt: skip
def test_a_choice_the_data_cannot_give_is_one_line_naming_the_flag(
    requested, joint_names, people, message
):
    with pytest.raises(ConfigError) as raised:
        chosen(joint_names, requested, people=people)
    assert str(raised.value) == message


@pytest.fixture(scope="module")
def five_joint_data(tmp_path_factory):
    """Shards of a generated 5-joint CSV set: no head boxes, no torso."""
    folder = tmp_path_factory.mktemp("five")
    csv_path = write_keypoint_csv(folder / "source", FIVE_JOINTS, count=8)
    make_tfrecords.main(["--format", "csv", "--annotations", str(csv_path),
                         "--out", str(folder / "data")])  # fmt: skip
    return folder / "data"


def test_pckh_on_data_without_head_boxes_stops_before_writing(
    five_joint_data, tmp_path, capsys
):
    with pytest.raises(SystemExit) as exit_info:
        train_main(["--preset", "demo", "--data-dir", str(five_joint_data),
                    "--run-dir", str(tmp_path / "run"),
                    "--validation-metric", "pckh"])  # fmt: skip
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "error: --validation-metric pckh: people lack head boxes; use auto or box-pck"
    )
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_validation_none_trains_on_the_validation_loss(
    five_joint_data, tmp_path, capsys
):
    run_dir = tmp_path / "run"
    flags = TINY_MODEL_FLAGS + [
        "--n-stacks", "1", "--data-dir", str(five_joint_data), "--run-dir",
        str(run_dir), "--batch-size", "4", "--epochs", "1", "--steps-per-epoch",
        "1", "--validation-batches", "1", "--validation-metric", "none",
    ]  # fmt: skip
    train_main(flags)
    stdout = capsys.readouterr().out
    assert "validation metric: none" in stdout
    assert "no validation score logged" in stdout
    with open(run_dir / "training_log.csv", newline="") as handle:
        (row,) = csv.DictReader(handle)
    assert "val_loss" in row and not any("pck" in column for column in row)
    assert (run_dir / "checkpoints" / "best.keras").is_file()
