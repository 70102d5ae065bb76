"""A JPEG whose body is corrupt decodes with only a libjpeg warning; the
pipeline counts it as an unreadable record instead of training on it."""

from PIL import Image

from keras_hourglass.data.pipeline import RecordCounter
from keras_hourglass.data.tfrecords import serialize_person
from tests.data.test_formats_bad_input import corrupt_jpeg_body
from tests.data.test_pipeline_bad_input import _count_samples
from tests.data.test_pipeline_bad_input import _good
from tests.data.test_pipeline_bad_input import _train
from tests.data.test_pipeline_bad_input import _unreadable
from tests.pipeline_helpers import synthetic_person
from tests.pipeline_helpers import write_shard


def test_corrupt_jpeg_body_is_counted_as_unreadable(shared_data, tmp_path):
    path = shared_data / "lspet_train/images/im00002.jpg"
    width, height = Image.open(path).size
    person = synthetic_person(16, "corrupt_body", height=height, width=width)
    person.update(image_bytes=corrupt_jpeg_body(path.read_bytes()), image_format="jpeg")
    records = [serialize_person(**person), _good("ok")]
    shard = write_shard(tmp_path / "corrupt.tfrecord", records)
    counter = RecordCounter([shard])
    assert _count_samples(_train(shard, counter)) == 1
    assert _unreadable(counter) == 1
