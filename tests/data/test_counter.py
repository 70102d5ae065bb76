"""The pipeline's one counter: damaged shards (truncated, random bytes) lose
records, counted by shard; unreadable records are counted too."""

import os

import pytest

from keras_hourglass.data.counter import RecordCounter
from keras_hourglass.data.counter import round_robin_counts
from keras_hourglass.data.pipeline import PipelineOptions
from keras_hourglass.data.pipeline import make_dataset
from keras_hourglass.data.pipeline import make_eval_dataset
from keras_hourglass.data.tfrecords import serialize_person
from tests.pipeline_helpers import MPII_FLIP_PAIRS
from tests.pipeline_helpers import synthetic_person
from tests.pipeline_helpers import write_shard

PER_SHARD = 10


@pytest.fixture()
def shards(tmp_path):
    """Two shards of 10 good records each."""
    return [
        write_shard(
            tmp_path / f"train-{index:05d}-of-00002.tfrecord",
            [
                serialize_person(**synthetic_person(image_id=f"s{index}p{person}"))
                for person in range(PER_SHARD)
            ],
        )
        for index in range(2)
    ]


def truncate(path, fraction):
    data = open(path, "rb").read()
    with open(path, "wb") as handle:
        handle.write(data[: int(len(data) * fraction)])


def randomize(path):
    size = os.path.getsize(path)
    with open(path, "wb") as handle:
        handle.write(os.urandom(size))


def eval_samples(files, counter):
    dataset = make_eval_dataset(
        files, 16, batch_size=4, input_size=32, counter=counter
    )
    return sum(int(images.shape[0]) for images, _ in dataset)


def test_round_robin_counts_match_the_converter():
    assert round_robin_counts(20, 2) == [10, 10]
    assert round_robin_counts(7, 3) == [3, 2, 2]
    assert sum(round_robin_counts(200, 7)) == 200


def test_intact_shards_lose_nothing(shards):
    counter = RecordCounter(shards, [PER_SHARD, PER_SHARD])
    assert eval_samples(shards, counter) == 2 * PER_SHARD
    assert counter.totals() == {
        "records_read": 2 * PER_SHARD, "records_used": 2 * PER_SHARD,
        "records_lost": 0, "damaged_shards": 0, "unreadable_records": 0,
    }  # fmt: skip
    assert counter.lost_by_shard() == {}


def test_truncated_shard_counts_its_lost_records(shards):
    truncate(shards[1], 0.6)
    counter = RecordCounter(shards, [PER_SHARD, PER_SHARD])
    samples = eval_samples(shards, counter)
    lost = counter.lost_by_shard()
    assert list(lost) == [shards[1]]
    # Every record is either a sample or counted as lost: nothing silent.
    assert samples + lost[shards[1]] == 2 * PER_SHARD
    assert 1 <= lost[shards[1]] <= PER_SHARD // 2
    assert counter.totals()["unreadable_records"] == 0
    assert "train-00001-of-00002.tfrecord" in counter.describe_losses()[0]


def test_random_bytes_shard_loses_all_its_records(shards):
    randomize(shards[0])
    counter = RecordCounter(shards, [PER_SHARD, PER_SHARD])
    assert eval_samples(shards, counter) == PER_SHARD
    assert counter.lost_by_shard() == {shards[0]: PER_SHARD}
    assert counter.totals()["records_read"] == PER_SHARD


def test_damage_is_found_from_bytes_without_expected_counts(shards):
    truncate(shards[0], 0.53)  # mid-record
    counter = RecordCounter(shards)
    samples = eval_samples(shards, counter)
    # Only the partial record's bytes are left to show the cut: at least one
    # record is lost, and the shard is named.
    assert counter.lost_by_shard() == {shards[0]: 1}
    assert samples == PER_SHARD + PER_SHARD // 2


def test_repeated_training_dataset_counts_each_pass(shards):
    randomize(shards[1])
    counter = RecordCounter(shards, [PER_SHARD, PER_SHARD])
    dataset = make_dataset(
        shards, 16, MPII_FLIP_PAIRS, training=True, batch_size=2,
        num_outputs=1, input_size=32, output_size=8, counter=counter,
        options=PipelineOptions(repeat=True, shuffle_buffer=0, seed=1),
    )  # fmt: skip
    for _ in dataset.take(3 * PER_SHARD // 2):
        pass
    # Three passes over the good shard's records; the bad one lost each pass.
    assert counter.lost_by_shard()[shards[1]] >= 2 * PER_SHARD
    assert counter.totals()["damaged_shards"] == 1
