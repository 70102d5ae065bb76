"""Prints, as JSON, the exported SavedModel's size, cold-load time and speed.

    python -m benchmarks.export_benchmark --n-stacks 2 --n-features 256
    python -m benchmarks.export_benchmark --model exports/hourglass   # an export
    python -m benchmarks.export_benchmark --formats \
        --keras-model runs/demo/final.keras --data data/synthetic --pckh

Times `serving_default` at batch 1 and 8, the `heatmaps` signature, the cold
load (load plus first call) and, for a 12-megapixel JPEG with a small box, the
crop by full decode against `serving_default`'s region decode. `--formats`
compares every export format of one Keras model instead (docs/serving.md).
"""

import argparse
import contextlib
import io
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

from benchmarks import alternating_rates
from benchmarks import machine
from benchmarks import smooth_random_jpeg
from evaluation.evaluation_loop import compiled_forward
from evaluation.evaluation_loop import load_heatmap_model
from keras_hourglass.data.decode import warp_image
from keras_hourglass.decoding import stack_heatmaps_list
from keras_hourglass.files import read_json
from keras_hourglass.model import build_stacked_hourglass
from keras_hourglass.saving import latest_version_dir
from keras_hourglass.saving import load_model
from keras_hourglass.saving import save_model
from keras_hourglass.serving.deployment import warmup_jpeg
from keras_hourglass.serving.export import export_saved_model
from keras_hourglass.serving.heatmap_files import calibration_crops
from keras_hourglass.serving.heatmap_files import export_litert
from keras_hourglass.serving.heatmap_files import export_onnx
from keras_hourglass.serving.inputs import crop_encoded_images
from keras_hourglass.serving.inputs import person_from_request_box
from keras_hourglass.serving.signatures import model_input_size
from keras_hourglass.transforms import person_crop_matrix

PHOTO_WIDTH, PHOTO_HEIGHT = 4000, 3000  # 12 megapixels
SMALL_BOX = (1800.0, 1200.0, 150.0, 300.0)  # a person far away, (x, y, w, h)


def megabytes(path):
    """The size of a file, or of a folder's files, in MB."""
    files = [Path(path)] if Path(path).is_file() else Path(path).rglob("*")
    return sum(p.stat().st_size for p in files if p.is_file()) / 1e6


def crop_by_full_decode(image_bytes, box, input_size):
    """The crop by decoding the whole photo, then warping the box out of it."""
    image = tf.io.decode_image(image_bytes, channels=3, expand_animations=False)
    shape = tf.shape(image)
    center, scale = person_from_request_box(box, shape[0], shape[1])
    matrix = person_crop_matrix(center, scale, input_size)
    return warp_image(image, matrix, input_size)


def large_photo_figures(keypoints, input_size, repeats):
    """Latencies of both crops and of serving_default on a 12 MP photo."""
    rng = np.random.default_rng(0)
    photo = tf.constant([smooth_random_jpeg(PHOTO_HEIGHT, PHOTO_WIDTH, rng)])
    boxes = tf.constant([SMALL_BOX], tf.float32)
    # Plain graph code: autograph is not needed and mis-converts these lambdas.
    full_decode = tf.function(
        lambda: crop_by_full_decode(photo[0], boxes[0], input_size), autograph=False
    )
    region_decode = tf.function(
        lambda: crop_encoded_images(photo, boxes, input_size), autograph=False
    )
    timed = {
        "crop_full_decode": (full_decode, 1),
        "crop_region_decode": (region_decode, 1),
        "serving_default": (lambda: keypoints(images=photo, boxes=boxes), 1),
    }
    rates = alternating_rates(timed, repeats)[0]
    return {
        f"photo_12mp_small_box_{name}_ms": round(1000 / rate, 2)
        for name, rate in rates.items()
    }


def benchmark_version(version_dir, image_side, repeats):
    """The figures of one exported version directory."""
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
    rates = alternating_rates(
        {"batch1": (lambda: call(1), 1), "batch8": (lambda: call(8), 8),
         "heatmaps1": (lambda: heatmaps(images=crops), 1)},
        repeats,
    )[0]  # fmt: skip
    return {
        "export_megabytes": round(megabytes(version_dir), 2),
        "cold_load_seconds": round(cold_load, 3),
        "serving_default_batch1_latency_ms": round(1000 / rates["batch1"], 2),
        "serving_default_batch8_images_per_second": round(rates["batch8"], 2),
        "heatmaps_batch1_latency_ms": round(1000 / rates["heatmaps1"], 2),
        **large_photo_figures(keypoints, size, repeats),
    }


def format_files(model, folder, calibration):
    """{format name: written path} of every export format of `model`."""
    folder = Path(folder)
    version_dir = export_saved_model(model, folder / "saved_model", warmup=False)
    return {
        "saved_model": version_dir,
        "litert_float32": export_litert(model, folder / "hg.tflite"),
        "litert_float16": export_litert(model, folder / "hg16.tflite", "float16"),
        "litert_int8": export_litert(model, folder / "hg8.tflite", "int8", calibration),
        "onnx": export_onnx(model, folder / "hg.onnx"),
    }


def evaluation_crops(args, input_size, count=8, split="valid"):
    """`count` crops of `--data`'s `split` (random crops without `--data`)."""
    if args.data:
        return calibration_crops(args.data, count, input_size, split=split)
    rng = np.random.default_rng(0)
    return rng.random([count, input_size, input_size, 3], dtype=np.float32)


def mean_pckh(model_path, data, out):
    """hourglass-evaluate's mean PCKh@0.5 of a model file on `data`."""
    from evaluation import evaluate

    argv = ["--model", str(model_path), "--data", str(data), "--out", str(out)]
    with contextlib.redirect_stdout(io.StringIO()):  # its tables: not our JSON
        code = evaluate.main([*argv, "--num-examples", "1"])
    if code != 0:
        raise RuntimeError(f"evaluating {model_path} failed")
    return read_json(Path(out) / "results.json")["mean"]


def heatmap_file_figures(args, scratch):
    """The `--formats` table: one row per export format of one Keras model."""
    if args.keras_model:
        keras_path = Path(args.keras_model)
        model = load_model(keras_path).keras_model
    else:
        model = build_model(args)
        keras_path = save_model(model, Path(scratch) / "model.keras")
    size = model_input_size(model)
    calibration = evaluation_crops(args, size, args.calibration_examples, "train")
    files = format_files(load_model(keras_path), scratch, calibration)
    crops = evaluation_crops(args, size)
    # The last stack's heatmaps as `hourglass-evaluate` runs each format.
    calls = {"keras": compiled_forward(model)}
    calls.update({name: load_heatmap_model(path).call for name, path in files.items()})
    runners = {
        name: lambda crops, call=call: np.asarray(stack_heatmaps_list(call(crops))[-1])
        for name, call in calls.items()
    }
    expected = runners["keras"](crops)
    steps = {}
    for name, runner in runners.items():
        for batch in (1, 8):
            steps[f"{name}@{batch}"] = (lambda r=runner, b=batch: r(crops[:b]), batch)
    rates = alternating_rates(steps, args.repeats)[0]
    rows = {}
    for name, runner in runners.items():
        heatmaps, path = runner(crops), files.get(name, keras_path)
        difference = np.abs(heatmaps - expected).max() / expected.std()
        row = {"megabytes": round(megabytes(path), 2),
               "heatmap_max_diff_over_std": float(f"{difference:.2g}")}  # fmt: skip
        rate = {b: rates[f"{name}@{b}"] for b in (1, 8)}
        row.update({f"batch{b}_ms_per_crop": round(1000 / rate[b], 2) for b in rate})
        row.update({f"batch{b}_time_vs_keras": round(rates[f"keras@{b}"] / rate[b], 2)
                    for b in rate})  # fmt: skip
        if args.pckh:
            eval_dir = Path(scratch) / f"eval_{name}"
            row["pckh"] = round(mean_pckh(path, args.data, eval_dir), 2)
        rows[name] = row
    return {"input_size": size, "formats": rows}


def build_model(args):
    """The network the `--n-stacks`, `--n-features`, `--input-size` flags describe."""
    return build_stacked_hourglass(
        n_stacks=args.n_stacks, n_features=args.n_features,
        input_shape=(args.input_size, args.input_size, 3),
    )  # fmt: skip


def main(argv=None):
    """Prints the figures as JSON and returns them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="an existing export (else one is built)")
    parser.add_argument("--n-stacks", type=int, default=2)
    parser.add_argument("--n-features", type=int, default=256)
    parser.add_argument("--input-size", type=int, default=256)
    parser.add_argument("--image-side", type=int, default=640, help="JPEG side")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--formats", action="store_true", help="compare formats")
    parser.add_argument("--keras-model", help="--formats: a .keras file")
    parser.add_argument("--data", help="--formats: a TFRecord dataset folder")
    parser.add_argument("--calibration-examples", type=int, default=200)
    parser.add_argument("--pckh", action="store_true", help="--formats: evaluate")
    args = parser.parse_args(argv)
    described = {k: getattr(args, k) for k in ("n_stacks", "n_features", "input_size")}
    common = {"tensorflow": tf.__version__, "machine": machine()}
    with tempfile.TemporaryDirectory() as scratch:
        if args.formats:
            result = {
                "model": args.keras_model or described,
                "data": args.data,
                **common,
                **heatmap_file_figures(args, scratch),
            }
        else:
            export_seconds = None
            if args.model:
                version_dir = latest_version_dir(args.model)
            else:
                start = time.perf_counter()
                model = build_model(args)
                version_dir = export_saved_model(model, Path(scratch) / "hg")
                export_seconds = round(time.perf_counter() - start, 2)
            result = {
                "model": args.model or described,
                "export_seconds": export_seconds,
                "image_side": args.image_side,
                **common,
                **benchmark_version(version_dir, args.image_side, args.repeats),
            }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
