"""Prints, as JSON, the stacked hourglass's inference and training-step speed.

    python benchmarks/model_benchmark.py --n-stacks 2 --batch-size 8 \
        --precision float32 mixed_bfloat16

Inference runs `model.predict_on_batch`-style compiled calls; a training step is
a compiled forward + backward + RMSprop update with the MSE heatmap loss on
every stack. Figures are images per second after warm-up (median of repeats).
"""

import argparse
import json
import os
import platform
import statistics
import time

from keras_hourglass.tf_environment import use_program_defaults

use_program_defaults()  # before TensorFlow loads

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_hourglass import build_stacked_hourglass  # noqa: E402


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-stacks", type=int, default=2)
    parser.add_argument("--n-features", type=int, default=256)
    parser.add_argument("--n-modules", type=int, default=1)
    parser.add_argument("--n-joints", type=int, default=16)
    parser.add_argument("--input-size", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument(
        "--precision",
        nargs="+",
        default=["float32", "mixed_bfloat16"],
        choices=["float32", "mixed_bfloat16", "mixed_float16"],
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--xla", action="store_true", help="jit_compile the steps")
    return parser.parse_args(argv)


def images_per_second(step, batch_size, repeats):
    step()  # trace and compile
    step()
    durations = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        durations.append(time.perf_counter() - start)
    return batch_size / statistics.median(durations)


def measure(args, precision):
    keras.config.set_dtype_policy(precision)
    model = build_stacked_hourglass(
        n_stacks=args.n_stacks,
        n_joints=args.n_joints,
        n_features=args.n_features,
        n_modules=args.n_modules,
        input_shape=(args.input_size, args.input_size, 3),
    )
    optimizer = keras.optimizers.RMSprop(2.5e-4)
    rng = np.random.default_rng(0)
    size = args.input_size
    images = tf.constant(rng.uniform(size=(args.batch_size, size, size, 3)), tf.float32)
    targets = tf.constant(
        rng.uniform(size=(args.batch_size, size // 4, size // 4, args.n_joints)),
        tf.float32,
    )

    @tf.function(jit_compile=args.xla)
    def infer():
        outputs = model(images, training=False)
        return outputs[-1] if isinstance(outputs, list) else outputs

    @tf.function(jit_compile=args.xla)
    def train_step():
        with tf.GradientTape() as tape:
            outputs = model(images, training=True)
            outputs = outputs if isinstance(outputs, list) else [outputs]
            loss = tf.add_n([tf.reduce_mean((o - targets) ** 2) for o in outputs])
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return loss

    result = {
        "precision": precision,
        "inference_images_per_second": round(
            images_per_second(lambda: infer().numpy(), args.batch_size, args.repeats), 2
        ),
        "train_step_images_per_second": round(
            images_per_second(
                lambda: train_step().numpy(), args.batch_size, args.repeats
            ),
            2,
        ),
    }
    keras.config.set_dtype_policy("float32")
    return result


def main(argv=None):
    args = parse_arguments(argv)
    report = {
        "config": {
            key: getattr(args, key)
            for key in (
                "n_stacks",
                "n_features",
                "n_modules",
                "n_joints",
                "input_size",
                "batch_size",
                "xla",
            )
        },
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "gpus": len(tf.config.list_physical_devices("GPU")),
        },
        "results": [measure(args, precision) for precision in args.precision],
    }
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
