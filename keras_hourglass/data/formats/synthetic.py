"""Records of the built-in synthetic dataset (`keras_hourglass.synthetic.people`).

Training people are samples `0 .. count - 1` of the seed and validation people
the next `val_count`, so the two never share an image. A sample depends only on
`(seed, index)` and the process pool returns them in order, so the shards are
the same whatever the worker count.
"""

import io
import multiprocessing
import os

import numpy as np
from PIL import Image

from keras_hourglass.data.formats.people import PersonRecord
from keras_hourglass.data.formats.people import make_checked_record
from keras_hourglass.joint_sets import MPII_16
from keras_hourglass.joint_sets import JointSet
from keras_hourglass.synthetic import people as synthetic

DEFAULT_SYNTHETIC_COUNT = 4000
DEFAULT_SYNTHETIC_VAL_COUNT = 400
DEFAULT_JPEG_QUALITY = 90
# A spawned worker imports TensorFlow before its first sample, which takes as
# long as rendering a few hundred samples: fewer than this many per worker
# render faster in the calling process.
SAMPLES_PER_WORKER = 500


def synthetic_joint_set():
    """Returns the synthetic keypoint set: MPII's joints, flip pairs, skeleton
    and torso, named "synthetic"."""
    return JointSet(
        "synthetic", MPII_16.joint_names, MPII_16.flip_pairs, MPII_16.skeleton,
        torso_joints=MPII_16.torso_joints,
    )  # fmt: skip


def encode_jpeg(image, quality=DEFAULT_JPEG_QUALITY):
    """Returns uint8 H x W x 3 pixels as JPEG file bytes."""
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(
        buffer, format="JPEG", quality=quality
    )
    return buffer.getvalue()


def render_sample(task):
    """Returns (annotation, JPEG bytes, (width, height)) of synthetic sample
    `index` of `seed`, for a `(seed, index, jpeg_quality)` task."""
    seed, index, jpeg_quality = task
    image, annotation = synthetic.generate_person_image(seed, index)
    height, width = np.shape(image)[:2]
    return annotation, encode_jpeg(image, jpeg_quality), (int(width), int(height))


def render_samples_in_order(tasks, workers):
    """Yields `render_sample(task)` for each task, in order, over `workers`
    spawned processes (TensorFlow's threads in the caller do not survive a fork)."""
    if workers <= 1:
        yield from map(render_sample, tasks)
        return
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        yield from pool.imap(render_sample, tasks, chunksize=8)


def default_worker_count(sample_count, cores=None):
    """One rendering process per core, at most one per `SAMPLES_PER_WORKER`
    samples; 1 renders them in the calling process."""
    cores = cores or os.cpu_count() or 1
    return max(1, min(cores, sample_count // SAMPLES_PER_WORKER))


def iterate_synthetic_records(
    seed, count, val_count, skip_log, jpeg_quality=DEFAULT_JPEG_QUALITY, workers=None
):
    """Yields PersonRecords (with `image_bytes`) for `count` training and
    `val_count` validation people, rendered by `workers` processes."""
    num_joints = MPII_16.num_joints
    workers = workers or default_worker_count(count + val_count)
    splits = ["train"] * count + ["valid"] * val_count
    tasks = [(seed, index, jpeg_quality) for index in range(count + val_count)]
    samples = render_samples_in_order(tasks, workers)
    for index, (split, sample) in enumerate(zip(splits, samples)):
        annotation, image_bytes, image_size = sample
        record = PersonRecord(
            image_id=annotation["image_id"], split=split,
            joints=annotation["joints"], annotated=annotation["joints_annotated"],
            visible=annotation["joints_visible"], center=annotation["center"],
            scale=annotation["scale"], image_bytes=image_bytes, image_size=image_size,
            head_box=annotation["head_box"], normalizer=annotation["normalizer"],
        )  # fmt: skip
        where = f"synthetic seed {seed} sample {index}"
        record = make_checked_record(record, num_joints, skip_log, where)
        if record is not None:
            yield record
