"""Measures training-pipeline throughput and prints it as JSON.

Shards hold real-sized JPEGs: the shared MPII samples (854x480 and 1280x720)
repeated, or, when `../shared/data` is absent, synthesized 1280x720 JPEGs.
Every sample is a 256x256 crop with full augmentation and 16 heatmaps.

    python -m benchmarks.pipeline_benchmark --batches 40 --batch-size 16
"""

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from keras_hourglass.data.pipeline import SkipCounter
from keras_hourglass.data.pipeline import make_dataset
from keras_hourglass.data.tfrecords import serialize_person

SHARED_SAMPLES = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "mpii_samples"
)
MPII_FLIP_PAIRS = [(0, 5), (1, 4), (2, 3), (10, 15), (11, 14), (12, 13)]


def real_people():
    """Yields serialize_person keyword arguments for the shared MPII people."""
    annotations = json.loads((SHARED_SAMPLES / "annotations.json").read_text())
    for index, person in enumerate(annotations["people"]):
        yield {
            "image_bytes": (SHARED_SAMPLES / person["image"]).read_bytes(),
            "image_format": "jpeg",
            "height": person["img_height"],
            "width": person["img_width"],
            "image_id": person["image"],
            "joints": person["joints"],
            "annotated": person["joints_annotated"],
            "visible": person["joints_is_visible_flag"],
            "center": person["mpii_objpos"],
            "scale": person["mpii_scale"],
            "person_index": index,
        }


def synthetic_people(count=4, seed=0):
    """Yields people on smooth random 1280x720 JPEGs (no shared data needed)."""
    generator = np.random.default_rng(seed)
    for index in range(count):
        coarse = generator.uniform(0, 255, size=(45, 80, 3)).astype(np.uint8)
        image = tf.image.resize(coarse, (720, 1280), method="bicubic")
        noise = generator.normal(0, 8, size=(720, 1280, 3))
        image = np.clip(image.numpy() + noise, 0, 255).astype(np.uint8)
        joints = generator.uniform([440, 160], [840, 560], size=(16, 2))
        yield {
            "image_bytes": tf.io.encode_jpeg(image, quality=90).numpy(),
            "image_format": "jpeg",
            "height": 720,
            "width": 1280,
            "image_id": f"synthetic_{index}",
            "joints": joints,
            "annotated": np.ones(16),
            "visible": np.ones(16),
            "center": [640.0, 360.0],
            "scale": 2.0,
            "person_index": 0,
        }


def write_shards(directory, people, repeats, num_shards):
    """Writes `repeats` copies of each person round-robin into shards."""
    records = [serialize_person(**person) for person in people]
    writers = [
        tf.io.TFRecordWriter(str(Path(directory) / f"train-{index:02d}.tfrecord"))
        for index in range(num_shards)
    ]
    for copy in range(repeats):
        for index, record in enumerate(records):
            writers[(copy * len(records) + index) % num_shards].write(record)
    for writer in writers:
        writer.close()
    return str(Path(directory) / "train-*.tfrecord")


def measure(pattern, batch_size, batches, warmup_batches):
    """Returns samples per second over `batches` batches after a warm-up."""
    skip_counter = SkipCounter()
    dataset = make_dataset(
        pattern,
        16,
        MPII_FLIP_PAIRS,
        training=True,
        batch_size=batch_size,
        num_outputs=2,
        repeat=True,
        seed=0,
        skip_counter=skip_counter,
    )
    iterator = iter(dataset)
    for _ in range(warmup_batches):
        next(iterator)
    start = time.perf_counter()
    for _ in tqdm(range(batches), desc="batches"):
        next(iterator)
    elapsed = time.perf_counter() - start
    return batch_size * batches / elapsed, skip_counter.as_dict()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--warmup-batches", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=16)
    args = parser.parse_args()
    use_real = SHARED_SAMPLES.is_dir()
    people = list(real_people() if use_real else synthetic_people())
    with tempfile.TemporaryDirectory() as directory:
        pattern = write_shards(directory, people, args.repeats, num_shards=4)
        samples_per_second, skips = measure(
            pattern, args.batch_size, args.batches, args.warmup_batches
        )
    # ru_maxrss is in kilobytes on Linux.
    peak_megabytes = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report = {
        "samples_per_second": round(samples_per_second, 1),
        "peak_memory_mb": round(peak_megabytes, 1),
        "images": "shared MPII samples" if use_real else "synthetic 1280x720 JPEG",
        "batch_size": args.batch_size,
        "batches": args.batches,
        "input_size": 256,
        "heatmaps": 16,
        "skipped": skips,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
