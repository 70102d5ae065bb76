"""Prints, as JSON, the exported SavedModel's size, cold-load time and speed.

    python -m benchmarks.export_benchmark --n-stacks 2 --n-features 256
    python -m benchmarks.export_benchmark --model exports/hourglass   # an export

Measures `serving_default` (JPEG bytes in, keypoints out: decode, crop, flip
test, decode and inverse transform inside the graph) at batch 1 (latency, ms)
and batch 8 (throughput, images/s), the `heatmaps` signature at batch 1, the
export's size on disk, and the cold-load time (`tf.saved_model.load` plus the
first call). Figures are medians over `--repeats` calls after one warm-up call.

For a 12-megapixel JPEG (4000 x 3000) with a small person box it also times
two ways to crop, in the same run: `full_decode` decodes the whole photo and
warps, `region_decode` decodes only the region the crop reads
(`tf.io.decode_and_crop_jpeg`, what `serving_default` does); plus the whole
`serving_default` call on that photo.
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

from benchmarks import machine
from benchmarks import median_seconds
from keras_hourglass.data.decode import warp_image
from keras_hourglass.model import build_stacked_hourglass
from keras_hourglass.saving import latest_version_dir
from keras_hourglass.serving.deployment import warmup_jpeg
from keras_hourglass.serving.export import export_saved_model
from keras_hourglass.serving.inputs import crop_encoded_images
from keras_hourglass.serving.inputs import person_from_request_box
from keras_hourglass.transforms import person_crop_matrix

PHOTO_WIDTH, PHOTO_HEIGHT = 4000, 3000  # 12 megapixels
SMALL_BOX = (1800.0, 1200.0, 150.0, 300.0)  # a person far away, (x, y, w, h)


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="an existing export (else one is built)")
    parser.add_argument("--n-stacks", type=int, default=2)
    parser.add_argument("--n-features", type=int, default=256)
    parser.add_argument("--input-size", type=int, default=256)
    parser.add_argument("--image-side", type=int, default=640, help="JPEG side")
    parser.add_argument("--repeats", type=int, default=10)
    return parser.parse_args(argv)


def directory_megabytes(path):
    files = (p for p in Path(path).rglob("*") if p.is_file())
    return sum(p.stat().st_size for p in files) / 1e6


def twelve_megapixel_jpeg():
    """A 4000 x 3000 JPEG with photo-like smooth content (quality 90)."""
    rng = np.random.default_rng(0)
    coarse = rng.uniform(0, 255, (PHOTO_HEIGHT // 50, PHOTO_WIDTH // 50, 3))
    image = tf.image.resize(coarse[None], (PHOTO_HEIGHT, PHOTO_WIDTH))[0]
    noise = rng.normal(0, 8, image.shape)
    pixels = tf.cast(tf.clip_by_value(image + noise, 0, 255), tf.uint8)
    return tf.io.encode_jpeg(pixels, quality=90).numpy()


def crop_by_full_decode(image_bytes, box, input_size):
    """The crop by decoding the whole photo, then warping the box's crop out
    of it."""
    image = tf.io.decode_image(image_bytes, channels=3, expand_animations=False)
    shape = tf.shape(image)
    center, scale = person_from_request_box(box, shape[0], shape[1])
    matrix = person_crop_matrix(center, scale, input_size)
    return warp_image(image, matrix, input_size)


def large_photo_figures(keypoints, input_size, repeats):
    """Returns the latency of both crops and of serving_default for a
    12-megapixel JPEG with a small box."""
    photo = tf.constant([twelve_megapixel_jpeg()])
    boxes = tf.constant([SMALL_BOX], tf.float32)
    # Plain graph code: autograph is not needed and mis-converts these lambdas.
    full_decode = tf.function(
        lambda: crop_by_full_decode(photo[0], boxes[0], input_size), autograph=False
    )
    region_decode = tf.function(
        lambda: crop_encoded_images(photo, boxes, input_size), autograph=False
    )
    return {
        "photo_12mp_small_box_crop_full_decode_ms": round(
            1000 * median_seconds(full_decode, repeats), 2
        ),
        "photo_12mp_small_box_crop_region_decode_ms": round(
            1000 * median_seconds(region_decode, repeats), 2
        ),
        "photo_12mp_small_box_serving_default_ms": round(
            1000
            * median_seconds(lambda: keypoints(images=photo, boxes=boxes), repeats),
            2,
        ),
    }


def benchmark_version(version_dir, image_side, repeats):
    """Returns the figures of one exported version directory."""
    start = time.perf_counter()
    loaded = tf.saved_model.load(str(version_dir))
    keypoints = loaded.signatures["serving_default"]
    image = warmup_jpeg(image_side)

    def call(batch):
        return keypoints(
            images=tf.constant([image] * batch), boxes=tf.zeros([batch, 4])
        )

    call(1)
    cold_load = time.perf_counter() - start
    size = int(loaded.signatures["metadata"]()["input_size"])
    crops = tf.constant(np.full([1, size, size, 3], 0.5, np.float32))
    heatmaps = loaded.signatures["heatmaps"]
    batch1 = median_seconds(lambda: call(1), repeats)
    batch8 = median_seconds(lambda: call(8), repeats)
    heatmaps1 = median_seconds(lambda: heatmaps(images=crops), repeats)
    return {
        "export_megabytes": round(directory_megabytes(version_dir), 2),
        "cold_load_seconds": round(cold_load, 3),
        "serving_default_batch1_latency_ms": round(1000 * batch1, 2),
        "serving_default_batch8_images_per_second": round(8 / batch8, 2),
        "heatmaps_batch1_latency_ms": round(1000 * heatmaps1, 2),
        **large_photo_figures(keypoints, size, repeats),
    }


def main(argv=None):
    args = parse_arguments(argv)
    with tempfile.TemporaryDirectory() as scratch:
        if args.model:
            version_dir = latest_version_dir(args.model)
            export_seconds = None
        else:
            model = build_stacked_hourglass(
                n_stacks=args.n_stacks,
                n_features=args.n_features,
                input_shape=(args.input_size, args.input_size, 3),
            )
            start = time.perf_counter()
            version_dir = export_saved_model(model, Path(scratch) / "hg")
            export_seconds = round(time.perf_counter() - start, 2)
        figures = benchmark_version(version_dir, args.image_side, args.repeats)
    result = {
        "model": args.model
        or {
            "n_stacks": args.n_stacks,
            "n_features": args.n_features,
            "input_size": args.input_size,
        },  # fmt: skip
        "export_seconds": export_seconds,
        "image_side": args.image_side,
        "tensorflow": tf.__version__,
        "machine": machine(),
        **figures,
    }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
