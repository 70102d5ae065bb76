"""Shard-writing helpers shared by the pipeline tests."""

import json
from pathlib import Path

import numpy as np
import tensorflow as tf

from keras_hourglass.data.metadata import split_files
from keras_hourglass.data.tfrecords import check_person
from keras_hourglass.data.tfrecords import parse_person
from keras_hourglass.data.tfrecords import serialize_person

MPII_FLIP_PAIRS = [(0, 5), (1, 4), (2, 3), (10, 15), (11, 14), (12, 13)]
LSP_FLIP_PAIRS = [(0, 5), (1, 4), (2, 3), (6, 11), (7, 10), (8, 9)]


def write_shard(path, records):
    """Writes serialized records to one TFRecord file; returns its path."""
    with tf.io.TFRecordWriter(str(path)) as writer:
        for record in records:
            writer.write(record)
    return str(path)


def dot_image(height, width, dots, image_format="png"):
    """Returns encoded bytes of a black image with a 3x3 white dot (centre
    pixel brightest after blurring) at each integer (x, y) in `dots`."""
    image = np.zeros((height, width, 3), np.uint8)
    for x, y in dots:
        image[int(y), int(x)] = 255
    if image_format == "png":
        return tf.io.encode_png(image).numpy()
    return tf.io.encode_jpeg(image, quality=100).numpy()


def synthetic_person(
    num_joints=16,
    image_id="synthetic",
    height=120,
    width=160,
    annotated=None,
    dots=(),
    image_format="png",
    **overrides,
):
    """Returns serialize_person kwargs for a person in a small generated image."""
    rng = np.random.default_rng(len(image_id))
    joints = rng.uniform([50, 30], [110, 90], size=(num_joints, 2))
    arguments = {
        "image_bytes": dot_image(height, width, dots, image_format),
        "image_format": image_format,
        "height": height,
        "width": width,
        "image_id": image_id,
        "joints": joints,
        "annotated": np.ones(num_joints) if annotated is None else annotated,
        "visible": np.ones(num_joints),
        "center": [80.0, 60.0],
        "scale": 0.4,
    }
    arguments.update(overrides)
    return arguments


def tamper(record, key, values):
    """Returns a serialized record with one feature's values replaced, for
    records that `serialize_person` rightly refuses to write."""
    example = tf.train.Example.FromString(record)
    feature = example.features.feature[key]
    if feature.HasField("float_list"):
        del feature.float_list.value[:]
        feature.float_list.value.extend(values)
    elif feature.HasField("int64_list"):
        del feature.int64_list.value[:]
        feature.int64_list.value.extend(values)
    else:
        del feature.bytes_list.value[:]
        feature.bytes_list.value.extend(values)
    return example.SerializeToString()


def real_mpii_records(shared_data):
    """Returns serialized records of the four shared MPII people."""
    folder = shared_data / "mpii_samples"
    annotations = json.loads((folder / "annotations.json").read_text())
    records = []
    for index, person in enumerate(annotations["people"]):
        records.append(
            serialize_person(
                (folder / person["image"]).read_bytes(),
                "jpeg",
                person["img_height"],
                person["img_width"],
                person["image"],
                person["joints"],
                person["joints_annotated"],
                person["joints_is_visible_flag"],
                person["mpii_objpos"],
                person["mpii_scale"],
                person_index=index,
            )
        )
    return records


def validate_shards(metadata):
    """Checks every split's shards against the metadata: files exist, hold the
    stated number of records, and their first record parses with the stated
    joint count. Raises ValueError listing every problem found."""
    problems = []
    for split, info in metadata["splits"].items():
        paths = split_files(metadata, split)
        absent = [p for p in paths if not Path(p).is_file()]
        if absent:
            problems.append(f"split {split}: missing shard files {absent}")
            continue
        count = sum(1 for _ in tf.data.TFRecordDataset(paths)) if paths else 0
        if count != info["count"]:
            stated = info["count"]
            problems.append(f"split {split}: {count} records, metadata says {stated}")
        for serialized in tf.data.TFRecordDataset(paths[:1]).take(1):
            person = parse_person(serialized)
            if not bool(check_person(person, metadata["num_joints"])):
                problems.append(f"split {split}: first record unusable in {paths[0]}")
    if problems:
        raise ValueError("shard check failed:\n" + "\n".join(problems))
