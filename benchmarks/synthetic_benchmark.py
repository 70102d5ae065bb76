"""Prints, as JSON, how fast the synthetic people are generated.

    python -m benchmarks.synthetic_benchmark --count 200 --repeats 3

The converter generates them one after another on one core, so this rate sets
how long the README's main command spends making its data.
"""

import argparse
import json
import statistics
import time

from benchmarks import machine
from keras_hourglass.synthetic.people import iterate_synthetic


def images_per_second(count, seed):
    """Generates `count` images; returns the rate in images per second."""
    started = time.perf_counter()
    for _ in iterate_synthetic(seed, count=count):
        pass
    return count / (time.perf_counter() - started)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=100, help="images per run")
    parser.add_argument("--repeats", type=int, default=3, help="runs (median)")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args(argv)
    rates = [images_per_second(args.count, args.seed) for _ in range(args.repeats)]
    print(
        json.dumps(
            {
                "images": args.count,
                "repeats": args.repeats,
                "images_per_second": round(statistics.median(rates), 1),
                "ms_per_image": round(1000 / statistics.median(rates), 2),
                "machine": machine(),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
