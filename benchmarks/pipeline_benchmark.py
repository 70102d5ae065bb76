"""Measures training-pipeline throughput per crop and prints it as JSON.

    python -m benchmarks.pipeline_benchmark --batches 10 --rounds 4

Shards hold real-sized JPEGs (the shared MPII samples, else synthesized
1280x720 ones); every sample is a 256x256 crop with full augmentation and 16
heatmaps. The `VARIANTS` are timed in alternating rounds, so that other load
slows them alike (docs/benchmarks.md).
"""

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from benchmarks import smooth_random_jpeg
from keras_hourglass.data.counter import RecordCounter
from keras_hourglass.data.examples import crop_reference_image
from keras_hourglass.data.examples import encode_targets
from keras_hourglass.data.examples import sample_augmentation
from keras_hourglass.data.metadata import list_shard_files
from keras_hourglass.data.patches import bounded_person_patch
from keras_hourglass.data.pipeline import PipelineOptions
from keras_hourglass.data.pipeline import make_dataset
from keras_hourglass.data.pipeline import read_records
from keras_hourglass.data.pipeline import to_model_targets
from keras_hourglass.data.tfrecords import checked_person
from keras_hourglass.data.tfrecords import parse_person
from keras_hourglass.data.tfrecords import serialize_person
from keras_hourglass.files import read_json
from keras_hourglass.joint_sets import MPII_16
from keras_hourglass.transforms import person_crop_matrix

SHARED_SAMPLES = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "mpii_samples"
)
# Variant: (records, crop).
VARIANTS = {
    "training": ("original", "training"),
    "reference_crop": ("original", "reference"),
    "training_patches": ("patches", "training"),
}


def real_people():
    """`serialize_person` keyword arguments of the shared MPII people."""
    annotations = read_json(SHARED_SAMPLES / "annotations.json")
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
    """People on smooth random 1280x720 JPEGs (no shared data needed)."""
    generator = np.random.default_rng(seed)
    for index in range(count):
        joints = generator.uniform([440, 160], [840, 560], size=(16, 2))
        yield {
            "image_bytes": smooth_random_jpeg(720, 1280, generator),
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
    Path(directory).mkdir(parents=True, exist_ok=True)
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


def make_benchmark_dataset(pattern, batch_size, crop):
    """The training dataset of `pattern`, or the same chain with the reference crop."""
    options = PipelineOptions(repeat=True, seed=0)
    if crop == "training":
        return make_dataset(
            pattern, 16, MPII_16.flip_pairs, training=True, batch_size=batch_size,
            num_outputs=2, options=options,
        )  # fmt: skip
    files = list_shard_files(pattern)
    counter = RecordCounter(files)
    records = read_records(
        files, counter, shuffle_files=True, deterministic=False, cache=False, seed=0
    )
    records = records.repeat().shuffle(options.shuffle_buffer, seed=0)
    seeds = tf.data.Dataset.random(seed=0).batch(2)
    dataset = counter.map_and_count(
        tf.data.Dataset.zip((records, seeds)), lambda pair: reference_example(*pair)
    )
    dataset = dataset.batch(batch_size, drop_remainder=True)
    dataset = dataset.map(lambda batch: to_model_targets(batch, 2))
    threading = tf.data.Options()
    threading.threading.max_intra_op_parallelism = options.intra_op_parallelism
    return dataset.with_options(threading).prefetch(tf.data.AUTOTUNE)


def reference_example(record, seed, size=256):
    """`examples.prepare_training_example` with the reference crop."""
    person = checked_person(parse_person(record), 16)
    augmentation = sample_augmentation(seed)
    matrix = person_crop_matrix(
        person["center"], person["scale"], size, augmentation["scale_multiplier"],
        augmentation["rotation"], augmentation["flip"],
    )  # fmt: skip
    image = crop_reference_image(person, matrix, size)
    image = tf.clip_by_value(image * augmentation["color_gains"], 0.0, 1.0)
    heatmaps, weights, _ = encode_targets(
        person, matrix, augmentation["flip"], 16, MPII_16.flip_pairs, size, 64, 1.0
    )
    return {"image": image, "heatmaps": heatmaps, "weights": weights}


def time_batches(dataset, batches, warmup_batches):
    """`(wall, process CPU)` seconds of `batches` batches from a fresh iterator
    after `warmup_batches`, dropped so its prefetching stops before the next."""
    iterator = iter(dataset)
    for _ in range(warmup_batches):
        next(iterator)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(batches):
        next(iterator)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    del iterator
    return wall, cpu


def measure(datasets, batch_size, batches, warmup_batches, rounds):
    """Times {variant: dataset} in alternating rounds; {variant: figures}."""
    totals = {variant: np.zeros(2) for variant in datasets}
    for _ in tqdm(range(rounds), desc="rounds"):
        for variant, dataset in datasets.items():
            totals[variant] += time_batches(dataset, batches, warmup_batches)
    cores = len(os.sched_getaffinity(0))
    samples = batch_size * batches * rounds
    return {
        variant: {
            "samples_per_second": round(samples / wall, 1),
            "samples_per_second_per_core": round(samples / wall / cores, 1),
            "samples_per_cpu_second": round(samples / cpu, 1),
        }
        for variant, (wall, cpu) in totals.items()
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=10, help="per round")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--warmup-batches", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=16)
    parser.add_argument(
        "--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS)
    )
    args = parser.parse_args()
    use_real = SHARED_SAMPLES.is_dir()
    people = list(real_people() if use_real else synthetic_people())
    with tempfile.TemporaryDirectory() as directory:
        records = {
            "original": people,
            "patches": [bounded_person_patch(person) for person in people],
        }
        patterns = {
            name: write_shards(Path(directory) / name, shard_people, args.repeats, 4)
            for name, shard_people in records.items()
        }
        datasets = {
            variant: make_benchmark_dataset(
                patterns[VARIANTS[variant][0]], args.batch_size, VARIANTS[variant][1]
            )
            for variant in args.variants
        }
        results = measure(
            datasets, args.batch_size, args.batches, args.warmup_batches, args.rounds
        )
    # ru_maxrss is in kilobytes on Linux.
    peak_megabytes = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    first = args.variants[0]
    report = {
        "results": results,
        f"over_{first}": {
            variant: {
                key: round(figures[key] / results[first][key], 2) for key in figures
            }
            for variant, figures in results.items()
        },
        "cores": len(os.sched_getaffinity(0)),
        "peak_memory_mb": round(peak_megabytes, 1),
        "images": "shared MPII samples" if use_real else "synthetic 1280x720 JPEG",
        "batch_size": args.batch_size,
        "batches_per_round": args.batches,
        "rounds": args.rounds,
        "input_size": 256,
        "heatmaps": 16,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
