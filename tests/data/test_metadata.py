"""`dataset.json` is checked when it is opened: shard names stay inside the
dataset folder, and the joint count agrees with the records."""

import json

import pytest

from keras_hourglass.data.metadata import METADATA_FILE_NAME
from keras_hourglass.data.metadata import read_metadata
from keras_hourglass.data.metadata import split_files
from keras_hourglass.data.metadata import split_head_boxes
from keras_hourglass.data.metadata import torso_joints_of
from keras_hourglass.data.tfrecords import serialize_person
from tests.pipeline_helpers import synthetic_person
from tests.pipeline_helpers import write_shard


def write_dataset(folder, num_joints=16, stated_joints=None, files=None):
    """A one-shard dataset of 16-joint people whose dataset.json states
    `stated_joints` and lists `files` as the train shards."""
    folder.mkdir(parents=True, exist_ok=True)
    people = [
        serialize_person(**synthetic_person(num_joints, f"p{i}")) for i in range(2)
    ]
    write_shard(folder / "train-00000-of-00001.tfrecord", people)
    stated = stated_joints or num_joints
    metadata = {
        "name": "t", "source": "test", "num_joints": stated,
        "joint_names": [f"j{i}" for i in range(stated)], "flip_pairs": [],
        "splits": {"train": {"files": files or ["train-00000-of-00001.tfrecord"],
                             "count": 2, "bytes": 1}},
    }  # fmt: skip
    (folder / METADATA_FILE_NAME).write_text(json.dumps(metadata))
    return folder


@pytest.mark.parametrize(
    "name", ["/etc/passwd", "../outside.tfrecord", "sub/../../x.tfrecord", "", 7]
)
def test_shard_names_outside_the_folder_are_refused(tmp_path, name):
    folder = write_dataset(tmp_path / "data", files=[name])
    with pytest.raises(ValueError, match=r"(?s)dataset.json.*inside"):
        split_files(read_metadata(folder), "train")


@pytest.mark.parametrize(
    "content", ['["num_joints", "joint_names", "splits"]', "7", '"splits"', "null"]
)
def test_a_dataset_json_that_is_not_an_object_is_refused_naming_it(
    tmp_path, content
):
    (tmp_path / METADATA_FILE_NAME).write_text(content)
    with pytest.raises(ValueError, match=r"dataset.json.*not a JSON object"):
        read_metadata(tmp_path)


def test_plain_shard_names_are_accepted(tmp_path):
    folder = write_dataset(tmp_path / "data")
    (path,) = split_files(read_metadata(folder), "train")
    assert path == str((folder / "train-00000-of-00001.tfrecord").resolve())


def test_wrong_joint_count_is_one_clear_error_up_front(tmp_path):
    folder = write_dataset(tmp_path / "data", num_joints=16, stated_joints=14)
    with pytest.raises(ValueError, match=r"says 14 joints.*hold 16"):
        read_metadata(folder)


def write_metadata_fields(folder, **fields):
    """The `write_dataset` dataset with `fields` replaced in its dataset.json."""
    write_dataset(folder)
    path = folder / METADATA_FILE_NAME
    metadata = json.loads(path.read_text())
    for key, value in fields.items():
        if key in ("count", "head_boxes"):
            metadata["splits"]["train"][key] = value
        else:
            metadata[key] = value
    path.write_text(json.dumps(metadata))
    return folder


@pytest.mark.parametrize(
    ("fields", "field_name"),
    [
        ({"flip_pairs": [[5, 0], [5, 1]]}, "flip_pairs"),
        ({"flip_pairs": [[0, 16]]}, "flip_pairs"),
        ({"flip_pairs": [[-1, 2]]}, "flip_pairs"),
        ({"flip_pairs": [[1, 1]]}, "flip_pairs"),
        ({"flip_pairs": [[0, 1, 2]]}, "flip_pairs"),
        ({"flip_pairs": [["a", "b"]]}, "flip_pairs"),
        ({"flip_pairs": {"0": 1}}, "flip_pairs"),
        ({"skeleton": [[0, 16]]}, "skeleton"),
        ({"skeleton": [[0.5, 1]]}, "skeleton"),
        ({"count": -5}, "count"),
        ({"count": 1e12}, "count"),
        ({"count": 10**12}, "count"),
        ({"count": True}, "count"),
        ({"num_joints": -5}, "num_joints"),
        ({"num_joints": 0}, "num_joints"),
        ({"num_joints": 1e12}, "num_joints"),
        ({"joint_names": ["a", "b"]}, "joint_names"),
        ({"torso_joints": [13, 16]}, "torso_joints"),
        ({"torso_joints": [2, 2]}, "torso_joints"),
        ({"head_boxes": 7}, "head_boxes"),
        ({"head_boxes": -1}, "head_boxes"),
    ],
)
def test_bad_fields_are_refused_naming_dataset_json_and_the_field(
    tmp_path, fields, field_name
):
    folder = write_metadata_fields(tmp_path / "data", **fields)
    with pytest.raises(ValueError, match=rf"dataset\.json.*{field_name}") as raised:
        read_metadata(folder)
    assert "\n" not in str(raised.value)


def test_a_flip_permutation_and_in_range_skeleton_are_accepted(tmp_path):
    folder = write_metadata_fields(
        tmp_path / "data",
        flip_pairs=[[5, 0], [4, 1], [3, 2]],
        skeleton=[[0, 1], [1, 2], [14, 15]],
    )
    metadata = read_metadata(folder)
    assert metadata["flip_pairs"] == [[5, 0], [4, 1], [3, 2]]


def test_torso_and_head_boxes_are_read_as_recorded_or_derived(tmp_path):
    recorded = read_metadata(
        write_metadata_fields(tmp_path / "recorded", torso_joints=None, head_boxes=2)
    )
    assert torso_joints_of(recorded) is None
    assert split_head_boxes(recorded, "train") == 2
    # Files written without these fields: the torso from the joint names, the
    # head boxes from the split's first record (none in `write_dataset`).
    derived = read_metadata(write_dataset(tmp_path / "derived"))
    assert "torso_joints" not in derived
    assert "head_boxes" not in derived["splits"]["train"]
    assert split_head_boxes(derived, "train") == 0
    derived["joint_names"] = ["nose", "r_hip", "l_shoulder"]
    assert torso_joints_of(derived) == (2, 1)
    with_head_box = serialize_person(**synthetic_person(16, "p0", normalizer=5.0))
    write_shard(tmp_path / "derived" / "train-00000-of-00001.tfrecord", [with_head_box])
    assert split_head_boxes(derived, "train") == 2
