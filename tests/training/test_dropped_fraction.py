"""`--max-dropped-fraction` weighs the records the pipeline used, not the
records read ahead into the shuffle buffer."""

import pytest

from keras_hourglass.data.pipeline import PipelineOptions
from keras_hourglass.data.pipeline import RecordCounter
from keras_hourglass.data.pipeline import make_dataset
from keras_hourglass.data.tfrecords import serialize_person
from tests.pipeline_helpers import MPII_FLIP_PAIRS
from tests.pipeline_helpers import synthetic_person
from tests.pipeline_helpers import tamper
from tests.pipeline_helpers import write_shard
from training.train import TrainingDataCheck
from training.train import TrainingDataError

PEOPLE = 23
UNUSABLE = 4
BATCH_SIZE = 4


def shard_with_unusable_people(tmp_path):
    records = []
    for index in range(PEOPLE):
        record = serialize_person(**synthetic_person(16, f"person{index}"))
        if index % 6 == 5:  # 4 of 23: a scale the pipeline refuses
            record = tamper(record, "person/scale", [-1.0])
        records.append(record)
    return write_shard(tmp_path / "train.tfrecord", records)


def test_four_unusable_people_of_23_trip_a_one_percent_limit(tmp_path):
    shard = shard_with_unusable_people(tmp_path)
    counter = RecordCounter([shard], [PEOPLE])
    dataset = make_dataset(
        shard, 16, MPII_FLIP_PAIRS, training=True, batch_size=BATCH_SIZE,
        num_outputs=1, input_size=32, output_size=8, counter=counter,
        # What a training run uses: repeated, with the default 1024-record
        # shuffle buffer, which reads the 23 records 45 times ahead.
        options=PipelineOptions(seed=0, repeat=True, shuffle_buffer=1024),
    )  # fmt: skip
    check = TrainingDataCheck(counter, max_dropped_fraction=0.01)
    batches = iter(dataset)
    for step in range(PEOPLE // BATCH_SIZE):  # one epoch
        next(batches)
        check.on_train_batch_end(step)
    with pytest.raises(TrainingDataError, match="--max-dropped-fraction 0.01"):
        check.on_epoch_end(0)
    totals = counter.totals()
    trained = PEOPLE // BATCH_SIZE * BATCH_SIZE
    assert trained < totals["records_used"] < 2 * PEOPLE  # not the buffer's
    assert totals["unreadable_records"] >= 1
