"""The README's main command on the built-in default.

For now it builds the paper's 8-stack network, prints its summary and its
trainable parameter count next to the official one, and runs a forward pass;
the training program will turn it into generate data + train + evaluate + export.

    python -m training.quickstart [--n-stacks 8] [--batch-size 1]
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

OFFICIAL_PAPER_PARAMETERS = 25_434_112


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-stacks", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--quiet", action="store_true", help="skip the layer summary")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_arguments(argv)
    import numpy as np

    from keras_hourglass import build_stacked_hourglass

    model = build_stacked_hourglass(n_stacks=args.n_stacks)
    if not args.quiet:
        model.summary(line_length=110)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    print(f"trainable parameters: {trainable:,}")
    if args.n_stacks == 8:
        verdict = (
            "matches" if trainable == OFFICIAL_PAPER_PARAMETERS else "DIFFERS FROM"
        )
        print(f"{verdict} the official 8-stack network ({OFFICIAL_PAPER_PARAMETERS:,})")
    images = np.random.default_rng(0).uniform(size=(args.batch_size, 256, 256, 3))
    start = time.perf_counter()
    outputs = model.predict(images.astype("float32"), verbose=0)
    outputs = outputs if isinstance(outputs, list) else [outputs]
    elapsed = time.perf_counter() - start
    for name, output in zip(model.output_names, outputs):
        print(f"{name}: shape {output.shape}, dtype {output.dtype}")
    print(f"forward pass of {args.batch_size} image(s): {elapsed:.2f} s")
    return trainable


if __name__ == "__main__":
    main()
