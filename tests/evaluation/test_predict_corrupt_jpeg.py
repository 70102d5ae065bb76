"""`evaluation.predict` skips a JPEG whose body is corrupt (libjpeg only warns
about it and returns a grey picture) with a message, like a truncated one."""

import logging

import pandas as pd

from tests.data.test_formats_bad_input import corrupt_jpeg_body
from tests.evaluation.test_predict import models  # noqa: F401 (fixture)
from tests.evaluation.test_predict import run


def test_corrupt_jpeg_body_is_skipped_with_a_message(
    models,  # noqa: F811 (the imported fixture)
    shared_data,
    tmp_path,
    caplog,
):
    caplog.set_level(logging.INFO, logger="evaluation.predict")
    keras_path, _ = models
    image = shared_data / "mpii_samples" / "052475643.jpg"
    corrupt = tmp_path / "garbled.jpg"
    corrupt.write_bytes(corrupt_jpeg_body(image.read_bytes()))
    assert run(keras_path, [image, corrupt], tmp_path / "out") == 0
    table = pd.read_csv(tmp_path / "out" / "keypoints.csv")
    assert table["image"].unique().tolist() == [str(image)]
    assert "garbled.jpg" in caplog.text and "1 images skipped" in caplog.text
