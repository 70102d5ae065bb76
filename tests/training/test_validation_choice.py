"""Which PCK a run validates with, chosen from what `dataset.json` records,
and the one-line error for a choice the data cannot give."""

import pytest

from training.callbacks import choose_validation_metric
from training.config import ConfigError
from training.config import TrainConfig

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
