"""Prints, as JSON, this project's model speed beside PyTorch's on the same network.

    python -m benchmarks.torch_comparison --n-stacks 2 --batch-size 8

Needs PyTorch (not a project dependency). Both run the same network (equal
trainable parameter counts are checked first), float32, timed alike; PyTorch in
NCHW and channels_last, the ratio against the faster.
"""

import argparse
import json
import os

import tensorflow as tf
import torch

from benchmarks import alternating_rates
from benchmarks import model_benchmark
from benchmarks.torch_reference import StackedHourglass
from benchmarks.torch_reference import count_trainable_parameters


def measure_torch(args, memory_format):
    torch.manual_seed(0)
    model = StackedHourglass(
        args.n_stacks, args.n_joints, args.n_features, args.n_modules
    ).to(memory_format=memory_format)
    size = args.input_size
    images = torch.rand(args.batch_size, 3, size, size).to(memory_format=memory_format)
    targets = torch.rand(args.batch_size, args.n_joints, size // 4, size // 4)
    optimizer = torch.optim.RMSprop(model.parameters(), lr=2.5e-4)

    def infer():
        model.eval()
        with torch.inference_mode():
            model(images)[-1].sum().item()

    def train_step():
        model.train()
        optimizer.zero_grad(set_to_none=True)
        loss = sum(((o - targets) ** 2).mean() for o in model(images))
        loss.backward()
        optimizer.step()
        loss.item()

    steps = {"inference": (infer, args.batch_size),
             "train_step": (train_step, args.batch_size)}  # fmt: skip
    rates = alternating_rates(steps, args.repeats)[0]
    return {
        "memory_format": str(memory_format).removeprefix("torch."),
        **{f"{name}_images_per_second": round(rates[name], 2) for name in steps},
    }


def check_same_network(args):
    """Both frameworks must build the same number of trainable parameters;
    returns that count and the network's convolution FLOPs per image."""
    keras_model = model_benchmark.build_network(args)
    keras_count = sum(int(w.numpy().size) for w in keras_model.trainable_weights)
    torch_count = count_trainable_parameters(
        StackedHourglass(args.n_stacks, args.n_joints, args.n_features, args.n_modules)
    )
    if keras_count != torch_count:
        raise SystemExit(f"not the same network: {keras_count} vs {torch_count}")
    return keras_count, model_benchmark.convolution_flops(keras_model)


def main(argv=None):
    """Prints the figures as JSON and returns them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    model_benchmark.add_network_arguments(parser)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--xla", action="store_true", help="jit_compile Keras")
    args = parser.parse_args(argv)
    torch.set_num_threads(os.cpu_count())
    parameters, flops = check_same_network(args)
    keras_figures = model_benchmark.measure(args, "float32")
    inference_rate = keras_figures["inference_images_per_second"]
    torch_figures = [
        measure_torch(args, memory_format)
        for memory_format in (torch.contiguous_format, torch.channels_last)
    ]

    def ratio(key):
        best_torch = max(figures[key] for figures in torch_figures)
        return round(keras_figures[key] / best_torch, 2)

    report = {
        "config": {**vars(args), "trainable_parameters": parameters},
        "versions": {
            "tensorflow": tf.__version__,
            "torch": torch.__version__,
            "cpus": os.cpu_count(),
        },
        "convolution_gflops_per_image": round(flops / 1e9, 2),
        "keras_inference_gflops_per_second": round(inference_rate * flops / 1e9, 1),
        "machine_matmul_gflops_per_second": keras_figures[
            "float32_matmul_gflops_per_second"
        ],
        "keras_tensorflow": keras_figures,
        "torch": torch_figures,
        "keras_over_best_torch": {
            "inference": ratio("inference_images_per_second"),
            "train_step": ratio("train_step_images_per_second"),
        },
    }
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
