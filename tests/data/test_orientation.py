"""A phone photo taken sideways (EXIF Orientation 6: turn 90 degrees
clockwise to view) is used upright by the converter, `evaluation.predict`
and `predict_poses`, and its keypoints are in upright-image coordinates."""

import io
import json

import numpy as np
import pandas as pd
import tensorflow as tf
from PIL import Image

from evaluation import predict
from keras_hourglass.data.image_checks import exif_orientation
from keras_hourglass.data.image_checks import upright_image_bytes
from keras_hourglass.predictor import predict_poses
from training import make_tfrecords

# As the sensor stored it: 96 wide, 64 high, a white block in the top-left.
SENSOR_HEIGHT, SENSOR_WIDTH = 64, 96


def phone_photo():
    """JPEG bytes of a sideways photo that a viewer shows 64 wide, 96 high,
    the block in the top-right corner."""
    pixels = np.full((SENSOR_HEIGHT, SENSOR_WIDTH, 3), 40, np.uint8)
    pixels[:16, :16] = 255
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=95, exif=exif.tobytes())
    return buffer.getvalue()


def decoded(image_bytes):
    return tf.io.decode_image(image_bytes, channels=3).numpy()


def test_the_photo_is_turned_upright():
    photo = phone_photo()
    assert exif_orientation(photo) == 6
    assert decoded(photo).shape == (SENSOR_HEIGHT, SENSOR_WIDTH, 3)  # TF ignores it
    upright = decoded(upright_image_bytes(photo))
    assert upright.shape == (SENSOR_WIDTH, SENSOR_HEIGHT, 3)
    assert upright[:16, -16:].mean() > 200 and upright[-16:, :16].mean() < 100
    assert exif_orientation(upright_image_bytes(photo)) == 1
    plain = upright_image_bytes(b"not an image")
    assert plain == b"not an image"


def test_predict_poses_and_the_predict_program_use_the_upright_photo(
    tiny_model_files, tmp_path
):
    keras_path = tiny_model_files[0]
    path = tmp_path / "phone.jpg"
    path.write_bytes(phone_photo())
    poses = predict_poses(keras_path, path)
    assert poses.image_size == (SENSOR_WIDTH, SENSOR_HEIGHT)
    assert predict.main(["--model", str(keras_path), "--images", str(path),
                         "--out", str(tmp_path / "out")]) == 0  # fmt: skip
    overlay = Image.open(tmp_path / "out" / "overlays" / "phone_pose.png")
    assert overlay.size == (SENSOR_HEIGHT, SENSOR_WIDTH)  # (width, height)
    (person,) = json.loads((tmp_path / "out" / "keypoints.json").read_text())
    assert person["image"] == str(path)


def test_the_converter_stores_the_upright_photo(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    (images / "phone.jpg").write_bytes(phone_photo())
    # One person standing in the upright picture (64 wide, 96 high).
    joint_names = ["l_ankle", "r_ankle", "l_wrist", "r_wrist"]
    row = {"image": "phone.jpg", "split": "train"}
    for index, name in enumerate(joint_names):
        row[f"{name}_x"], row[f"{name}_y"] = 20.0 + 8 * index, 80.0 - 20 * index
    rows = [row, {**row, "split": "valid"}]
    csv_path = tmp_path / "people.csv"
    pd.DataFrame(rows).to_csv(csv_path, index=False)
    out = tmp_path / "data"
    make_tfrecords.main(["--format", "csv", "--annotations", str(csv_path),
                         "--images", str(images), "--out", str(out)])  # fmt: skip
    (shard,) = sorted(out.glob("train-*.tfrecord"))
    record = next(iter(tf.data.TFRecordDataset(str(shard)))).numpy()
    features = tf.train.Example.FromString(record).features.feature
    assert features["image/height"].int64_list.value[0] == SENSOR_WIDTH
    assert features["image/width"].int64_list.value[0] == SENSOR_HEIGHT
    stored = features["image/encoded"].bytes_list.value[0]
    assert decoded(stored).shape == (SENSOR_WIDTH, SENSOR_HEIGHT, 3)
