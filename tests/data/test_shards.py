"""Tests for keras_hourglass.data.shards and shards_metadata."""

import json

import numpy as np
import pytest
import tensorflow as tf

from keras_hourglass.data import metadata as dataset_metadata
from keras_hourglass.data import shards
from keras_hourglass.data import tfrecords
from keras_hourglass.data.formats.people import PersonRecord
from keras_hourglass.data.formats.people import SkipLog
from keras_hourglass.data.formats.synthetic import encode_jpeg
from keras_hourglass.data.metadata import list_shard_files
from keras_hourglass.joint_sets import LSP_14
from tests.pipeline_helpers import validate_shards

MB = 1024 * 1024


def make_record(image_path=None, image_bytes=None, image_size=None, index=0):
    rng = np.random.default_rng(index)
    joints = rng.uniform(5, 40, size=(14, 2))
    annotated = np.ones(14, dtype=np.int64)
    annotated[3] = 0
    joints[3] = 0.0
    return PersonRecord(
        image_id=f"person{index}.jpg", split="train", joints=joints,
        annotated=annotated, visible=np.r_[np.ones(13), 0].astype(np.int64),
        center=(20.0 + index, 25.0), scale=0.3, image_path=image_path,
        image_bytes=image_bytes, image_size=image_size, person_index=index,
        head_box=(1.0, 2.0, 3.0, 4.0), normalizer=1.5,
    )  # fmt: skip


def jpeg_bytes(width=48, height=32):
    return encode_jpeg(np.full((height, width, 3), 120, dtype=np.uint8))


def test_choose_num_shards_keeps_shards_between_100_and_200_mb():
    assert shards.choose_num_shards(0) == 1
    assert shards.choose_num_shards(150 * MB) == 1
    assert shards.choose_num_shards(201 * MB) == 2
    for total_mb in (250, 399, 1000, 3700):
        count = shards.choose_num_shards(total_mb * MB)
        assert 100 <= total_mb / count <= 200
    assert shards.choose_num_shards(10 * MB, max_shard_bytes=3 * MB) == 4
    assert shards.shard_file_name("train", 3, 4) == "train-00003-of-00004.tfrecord"


def test_encode_person_record_round_trip(tmp_path):
    image_path = tmp_path / "person0.jpg"
    image_path.write_bytes(jpeg_bytes())
    record = make_record(image_path=image_path, image_size=(48, 32))
    serialized = shards.encode_person_record(record, SkipLog())
    person = tfrecords.parse_person(serialized)
    assert person["image_encoded"].numpy() == image_path.read_bytes()
    assert person["image_format"].numpy() == b"jpeg"
    assert (int(person["image_width"]), int(person["image_height"])) == (48, 32)
    np.testing.assert_allclose(person["joints"].numpy(), record.joints, rtol=1e-6)
    np.testing.assert_array_equal(person["joints_annotated"].numpy(), record.annotated)
    np.testing.assert_array_equal(person["joints_visible"].numpy(), record.visible)
    np.testing.assert_allclose(person["center"].numpy(), record.center)
    assert float(person["scale"]) == pytest.approx(0.3)
    np.testing.assert_allclose(person["head_box"].numpy(), record.head_box)
    assert bool(tfrecords.check_person(person, 14))


def test_bad_images_are_counted_skips(tmp_path):
    good = jpeg_bytes()
    (tmp_path / "truncated.jpg").write_bytes(good[: len(good) // 2])
    (tmp_path / "text.jpg").write_bytes(b"hello")
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "good.jpg").write_bytes(good)
    skip_log = SkipLog()
    for name in ("truncated.jpg", "text.jpg", "empty.png", "absent.jpg"):
        record = make_record(image_path=tmp_path / name)
        assert shards.encode_person_record(record, skip_log) is None
    wrong_size = make_record(image_path=tmp_path / "good.jpg", image_size=(640, 480))
    assert shards.encode_person_record(wrong_size, skip_log) is None
    assert skip_log.counts == {
        "image unreadable": 3,
        "image missing": 1,
        "image size differs from the annotation": 1,
    }


def test_spool_and_shards_keep_every_record(tmp_path):
    records = [make_record(image_bytes=jpeg_bytes(), index=i) for i in range(7)]
    records[5].split = "valid"
    skip_log = SkipLog()
    spools = shards.spool_records(records, tmp_path, skip_log, total=7)
    assert {s: v["count"] for s, v in spools.items()} == {"train": 6, "valid": 1}
    files = shards.write_split_shards(spools["train"], "train", tmp_path, num_shards=4)
    assert files == [f"train-0000{i}-of-00004.tfrecord" for i in range(4)]
    assert not spools["train"]["path"].exists()
    counts = [sum(1 for _ in tf.data.TFRecordDataset(str(tmp_path / f))) for f in files]
    assert counts == [2, 2, 1, 1]
    read_back = sorted(
        float(tfrecords.parse_person(s)["center"][0])
        for f in files for s in tf.data.TFRecordDataset(str(tmp_path / f))
    )  # fmt: skip
    assert read_back == [20.0, 21.0, 22.0, 23.0, 24.0, 26.0]
    # More shards than records: no empty shard is written.
    valid = shards.write_split_shards(spools["valid"], "valid", tmp_path, num_shards=3)
    assert valid == ["valid-00000-of-00001.tfrecord"]
    train_glob = str(tmp_path / "train-*-of-*.tfrecord")
    assert list_shard_files(train_glob) == [str(tmp_path / f) for f in files]
    (tmp_path / files[1]).unlink()
    with pytest.raises(ValueError, match="incomplete"):
        list_shard_files(train_glob)


def test_metadata_write_read_and_validate(tmp_path):
    records = [make_record(image_bytes=jpeg_bytes(), index=i) for i in range(3)]
    skip_log = SkipLog()
    skip_log.skip("image missing", "x")
    spools = shards.spool_records(records, tmp_path, skip_log)
    files = shards.write_split_shards(spools["train"], "train", tmp_path, 2)
    splits = {"train": {"files": files, "count": 3, "bytes": spools["train"]["bytes"]}}
    metadata = dataset_metadata.build_dataset_metadata(
        "tiny", "test", LSP_14, splits, skip_log, {"seed": 1}
    )
    path = dataset_metadata.write_metadata(tmp_path, metadata)
    stored = json.loads(path.read_text())
    assert stored["flip_pairs"][0] == [5, 0] and stored["num_joints"] == 14
    assert stored["skipped"] == {"image missing": 1}
    loaded = dataset_metadata.read_metadata(path)
    assert dataset_metadata.read_metadata(tmp_path)["splits"] == loaded["splits"]
    assert dataset_metadata.split_files(loaded, "train") == [
        str(tmp_path.resolve() / name) for name in files
    ]
    validate_shards(loaded)
    with pytest.raises(ValueError, match="no split 'valid'.*train"):
        dataset_metadata.split_files(loaded, "valid")
    loaded["splits"]["train"]["count"] = 4
    with pytest.raises(ValueError, match="3 records, metadata says 4"):
        validate_shards(loaded)
    with pytest.raises(FileNotFoundError, match="metadata not found.*elsewhere"):
        dataset_metadata.read_metadata(tmp_path / "elsewhere")
