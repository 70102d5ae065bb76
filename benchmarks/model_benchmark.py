"""Prints, as JSON, the stacked hourglass's inference and training-step speed.

    python -m benchmarks.model_benchmark --n-stacks 2 --batch-size 8 \
        --precision float32 mixed_bfloat16
    python -m benchmarks.model_benchmark --n-stacks 8 --remat-comparison

Times, in alternating rounds, compiled inference of the model and of its
batch-norm-folded copy (what the export serves), a training step and a float32
matrix multiply, the machine's practical ceiling: the fraction of it each
reaches travels between machines. `--remat-comparison` measures training memory
per image and step time with and without `training.remat` instead.
"""

import argparse
import json

import keras
import numpy as np
import tensorflow as tf

from benchmarks import alternating_rates
from benchmarks import machine
from keras_hourglass import build_stacked_hourglass
from keras_hourglass.serving.fold import fold_batch_norms
from training.remat import rematerialize_stacks

# Forward + input gradient + weight gradient: each costs about one forward.
TRAINING_FLOPS_PER_FORWARD_FLOP = 3


def add_network_arguments(parser):
    """The network and batch flags, shared with `torch_comparison.py`."""
    parser.add_argument("--n-stacks", type=int, default=2)
    parser.add_argument("--n-features", type=int, default=256)
    parser.add_argument("--n-modules", type=int, default=1)
    parser.add_argument("--n-joints", type=int, default=16)
    parser.add_argument("--input-size", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=8)
    return parser


def build_network(args):
    """The Keras model that `add_network_arguments`' flags describe."""
    return build_stacked_hourglass(
        n_stacks=args.n_stacks,
        n_joints=args.n_joints,
        n_features=args.n_features,
        n_modules=args.n_modules,
        input_shape=(args.input_size, args.input_size, 3),
    )


def matmul_step(side=2048):
    """`(step, FLOPs per call)` of a large float32 matrix multiply."""
    a = tf.random.uniform([side, side])
    b = tf.random.uniform([side, side])
    return lambda: tf.linalg.matmul(a, b).numpy(), 2 * side**3


def convolution_flops(keras_model):
    """Multiply-adds x 2 of every convolution for one image (biases ignored)."""
    flops = 0
    for layer in keras_model.layers:
        if layer.__class__.__name__ == "Conv2D":
            _, height, width, out_channels = layer.output.shape
            kernel_height, kernel_width, in_channels, _ = layer.kernel.shape
            per_pixel = kernel_height * kernel_width * in_channels * out_channels
            flops += 2 * height * width * per_pixel
    return flops


def make_train_step(model, optimizer, images, targets, xla=False):
    """A compiled forward + backward + update with the MSE on every stack."""

    @tf.function(jit_compile=xla)
    def train_step():
        with tf.GradientTape() as tape:
            outputs = model(images, training=True)
            outputs = outputs if isinstance(outputs, list) else [outputs]
            loss = tf.add_n([tf.reduce_mean((o - targets) ** 2) for o in outputs])
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return loss

    return train_step


def random_batch(args, batch_size):
    """(images, targets) of `batch_size` random crops and heatmaps."""
    rng = np.random.default_rng(0)
    size = args.input_size
    images = tf.constant(rng.uniform(size=(batch_size, size, size, 3)), tf.float32)
    targets = tf.constant(
        rng.uniform(size=(batch_size, size // 4, size // 4, args.n_joints)),
        tf.float32,
    )
    return images, targets


def memory_device():
    """The device whose allocator `get_memory_info` reads: GPU:0, else CPU:0."""
    return "GPU:0" if tf.config.list_physical_devices("GPU") else "CPU:0"


def peak_step_bytes(step):
    """The allocator's peak bytes during one call of a traced `step`."""
    step().numpy()  # trace and first run: not measured
    tf.config.experimental.reset_memory_stats(memory_device())
    step().numpy()
    return tf.config.experimental.get_memory_info(memory_device())["peak"]


def remat_comparison(args):
    """Memory per training image and step time, plain and rematerialised."""
    small, large = args.memory_batches
    figures, steps = {}, {}
    for name, remat in (("plain", False), ("remat", True)):
        model = build_network(args)
        if remat:
            rematerialize_stacks(model)
        optimizer = keras.optimizers.RMSprop(2.5e-4)
        batch_steps = {
            batch: make_train_step(
                model, optimizer, *random_batch(args, batch), args.xla
            )
            for batch in dict.fromkeys((small, large, args.batch_size))
        }  # one trace per batch size: an 8-stack trace takes minutes
        peaks = {batch: peak_step_bytes(batch_steps[batch]) for batch in (small, large)}
        per_image = (peaks[large] - peaks[small]) / (large - small)
        fixed = peaks[small] - small * per_image
        step = batch_steps[args.batch_size]
        steps[name] = (lambda step=step: step().numpy(), args.batch_size)
        figures[name] = {
            "peak_bytes_by_batch": {str(b): int(peaks[b]) for b in peaks},
            "bytes_per_image": int(per_image),
            "fixed_bytes": int(fixed),
            "largest_batch_by_gpu_memory": {
                f"{gb}GB": int((gb * 2**30 - fixed) // per_image)
                for gb in (16, 24, 40, 80)
            },
        }
    rates, cpu_rates = alternating_rates(steps, args.repeats)
    for name, figure in figures.items():
        figure["train_step_seconds_per_image"] = round(1 / rates[name], 3)
        figure["train_step_cpu_seconds_per_image"] = round(1 / cpu_rates[name], 3)
    plain, remat = figures["plain"], figures["remat"]
    return {
        "memory_device": memory_device(),
        **figures,
        "bytes_per_image_ratio": round(
            plain["bytes_per_image"] / remat["bytes_per_image"], 2
        ),
        "step_time_ratio": round(rates["plain"] / rates["remat"], 2),
        "step_cpu_time_ratio": round(cpu_rates["plain"] / cpu_rates["remat"], 2),
    }


def measure(args, precision):
    keras.config.set_dtype_policy(precision)
    model = build_network(args)
    optimizer = keras.optimizers.RMSprop(2.5e-4)
    images, targets = random_batch(args, args.batch_size)
    folded = fold_batch_norms(model)

    def inference_step(network):
        @tf.function(jit_compile=args.xla)
        def infer():
            outputs = network(images, training=False)
            return outputs[-1] if isinstance(outputs, list) else outputs

        return lambda: infer().numpy()

    train_step = make_train_step(model, optimizer, images, targets, args.xla)
    batch = args.batch_size
    steps = {
        "inference": (inference_step(model), batch),
        "folded_inference": (inference_step(folded), batch),
        "train_step": (lambda: train_step().numpy(), batch),
    }
    rates, cpu_rates = alternating_rates(
        {**steps, "matmul": matmul_step()}, args.repeats
    )
    result = {
        "precision": precision,
        **{f"{key}_images_per_second": round(rates[key], 2) for key in steps},
        "float32_matmul_gflops_per_second": round(rates["matmul"] / 1e9, 1),
        "per_cpu_second": {
            **{f"{key}_images": round(cpu_rates[key], 2) for key in steps},
            "float32_matmul_gflops": round(cpu_rates["matmul"] / 1e9, 1),
        },
    }
    keras.config.set_dtype_policy("float32")
    return result


def add_fractions(result, flops):
    """Adds the fraction of the same rounds' matmul rate each figure reaches."""
    per_cpu = result["per_cpu_second"]
    forward_flops = {
        "inference": flops,
        "folded_inference": flops,
        "train_step": TRAINING_FLOPS_PER_FORWARD_FLOP * flops,
    }
    for key, flops_per_image in forward_flops.items():
        for figures, rate, matmul in (
            (result, f"{key}_images_per_second", "float32_matmul_gflops_per_second"),
            (per_cpu, f"{key}_images", "float32_matmul_gflops"),
        ):
            fraction = figures[rate] * flops_per_image / 1e9 / figures[matmul]
            figures[f"{key}_fraction_of_matmul"] = round(fraction, 3)
    return result


def main(argv=None):
    """Prints the figures as JSON and returns them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_network_arguments(parser)
    parser.add_argument(
        "--precision",
        nargs="+",
        default=["float32", "mixed_bfloat16"],
        choices=["float32", "mixed_bfloat16", "mixed_float16"],
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--xla", action="store_true", help="jit_compile the steps")
    parser.add_argument(
        "--remat-comparison", action="store_true",
        help="memory per image and step time with and without remat",
    )  # fmt: skip
    parser.add_argument("--memory-batches", type=int, nargs=2, default=[1, 2])
    args = parser.parse_args(argv)
    flops = convolution_flops(build_network(args))
    if args.remat_comparison:
        results = remat_comparison(args)
    else:
        results = [add_fractions(measure(args, p), flops) for p in args.precision]
    not_network = ("precision", "repeats", "remat_comparison", "memory_batches")
    report = {
        "config": {k: v for k, v in vars(args).items() if k not in not_network},
        "machine": {
            **machine(),
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "gpus": len(tf.config.list_physical_devices("GPU")),
        },
        "convolution_gflops_per_image": round(flops / 1e9, 2),
        "results": results,
    }
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
