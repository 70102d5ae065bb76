"""Bad input in the tf.data pipeline: clear errors, or records dropped,
logged by TensorFlow naming their image, and counted in the one counter.

The converter refuses all of these records (tests/data/test_formats_bad_input.py);
the pipeline still counts any that reach it instead of training on them."""

import pytest
import tensorflow as tf

from keras_hourglass.data.pipeline import PipelineOptions
from keras_hourglass.data.pipeline import RecordCounter
from keras_hourglass.data.pipeline import make_dataset
from keras_hourglass.data.pipeline import make_eval_dataset
from keras_hourglass.data.tfrecords import serialize_person
from tests.pipeline_helpers import MPII_FLIP_PAIRS
from tests.pipeline_helpers import synthetic_person
from tests.pipeline_helpers import tamper
from tests.pipeline_helpers import write_shard


def _good(image_id, image_format="png"):
    return serialize_person(**synthetic_person(16, image_id, image_format=image_format))


def _train(shard, counter, **options):
    return make_dataset(
        shard,
        16,
        MPII_FLIP_PAIRS,
        training=True,
        batch_size=1,
        num_outputs=1,
        input_size=32,
        output_size=8,
        options=PipelineOptions(seed=0, **options),
        counter=counter,
    )


def _unreadable(counter):
    return counter.totals()["unreadable_records"]


def _count_samples(dataset):
    return sum(int(batch[0].shape[0]) for batch in dataset)


def test_missing_shard_raises_naming_the_pattern(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing-here"):
        make_dataset(
            str(tmp_path / "nothing-here*.tfrecord"),
            16,
            MPII_FLIP_PAIRS,
            training=True,
            batch_size=1,
            num_outputs=1,
        )


def test_empty_shard_raises_naming_the_file(tmp_path):
    good = write_shard(tmp_path / "a.tfrecord", [_good("a")])
    empty = write_shard(tmp_path / "b.tfrecord", [])
    with pytest.raises(ValueError, match="b.tfrecord.*empty"):
        make_eval_dataset([good, empty], 16, batch_size=1)


def _bad_records():
    """Records that fail their checks before decoding."""
    good_jpeg = serialize_person(**synthetic_person(16, "x", image_format="jpeg"))
    jpeg_bytes = (
        tf.train.Example.FromString(good_jpeg)
        .features.feature["image/encoded"]
        .bytes_list.value[0]
    )
    return [
        serialize_person(**synthetic_person(14, "fourteen_joints")),
        tamper(_good("nan_joint"), "person/joints", [float("nan")] * 32),
        tamper(_good("inf_center"), "person/center", [float("inf"), 3.0]),
        tamper(_good("zero_scale"), "person/scale", [0.0]),
        tamper(_good("negative_scale"), "person/scale", [-1.0]),
        tamper(_good("empty_bytes"), "image/encoded", [b""]),
        tamper(_good("not_an_image"), "image/encoded", [b"hello world" * 20]),
        tamper(good_jpeg, "image/encoded", [jpeg_bytes[: len(jpeg_bytes) // 2]]),
    ]


def test_bad_records_are_dropped_logged_and_counted(tmp_path, capfd):
    records = _bad_records() + [_good("good_png"), _good("good_jpeg", "jpeg")]
    shard = write_shard(tmp_path / "mixed.tfrecord", records)
    counter = RecordCounter([shard])
    assert _count_samples(_train(shard, counter)) == 2
    assert _unreadable(counter) == 8
    log = capfd.readouterr().err
    for image_id in [
        "fourteen_joints",
        "nan_joint",
        "inf_center",
        "zero_scale",
        "negative_scale",
        "empty_bytes",
        "not_an_image",
    ]:
        assert f'image "{image_id}"' in log
    assert "a scale <= 0" in log and "truncated" in log
    assert "good_png" not in log


def test_undecodable_images_are_dropped_and_counted(tmp_path):
    corrupt = b"\xff\xd8\xff" + b"\x13" * 300 + b"\xff\xd9"
    wrong_size = synthetic_person(16, "wrong_size")
    wrong_size["height"] = 100  # the PNG is 120 px high
    records = [
        tamper(_good("corrupt_body"), "image/encoded", [corrupt]),
        serialize_person(**wrong_size),
        _good("good"),
    ]
    shard = write_shard(tmp_path / "decode.tfrecord", records)
    counter = RecordCounter([shard])
    assert _count_samples(_train(shard, counter)) == 1
    assert _unreadable(counter) == 2
    eval_counter = RecordCounter([shard])
    images, meta = next(
        iter(make_eval_dataset(shard, 16, batch_size=4, counter=eval_counter))
    )
    assert [name.decode() for name in meta["image_id"].numpy()] == ["good"]
    assert _unreadable(eval_counter) == 2


def test_a_record_that_does_not_parse_is_counted(tmp_path):
    shard = write_shard(
        tmp_path / "garbage.tfrecord", [_good("a"), b"not an Example", _good("b")]
    )
    counter = RecordCounter([shard])
    assert _count_samples(_train(shard, counter)) == 2
    assert _unreadable(counter) == 1


def test_unreadable_count_is_exact_mid_stream_on_a_repeated_dataset(tmp_path):
    corrupt = tamper(_good("corrupt"), "image/encoded", [b"\xff\xd8\xff\x13\xff\xd9"])
    shard = write_shard(tmp_path / "repeat.tfrecord", [_good("a"), corrupt, _good("b")])
    counter = RecordCounter([shard])
    dataset = _train(shard, counter, repeat=True, shuffle_buffer=0)
    iterator = iter(dataset)
    for _ in range(5):  # a, b, a, b, a: two corrupt records passed so far
        next(iterator)
    # The final prefetch may run the counting step ahead of the consumer, so
    # the count is exact up to the position that step has reached (records
    # are numbered a=0, corrupt=1, b=2, a=3, ...): every corrupt record
    # before it is counted, none still in flight. Read while it is not moving.
    for _ in range(100):
        reached = int(counter.next_position.numpy())
        unreadable = _unreadable(counter)
        if int(counter.next_position.numpy()) == reached:
            break
    corrupt_before = sum(1 for position in range(reached) if position % 3 == 1)
    assert corrupt_before >= 2
    assert unreadable == corrupt_before
