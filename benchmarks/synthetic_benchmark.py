"""Prints, as JSON, how fast the synthetic people are generated.

    python -m benchmarks.synthetic_benchmark --count 200 --repeats 3

The converter generates them one after another on one core, so this rate sets
how long the README's main command spends making its data.
"""

import argparse
import json

from benchmarks import alternating_rates
from benchmarks import machine
from keras_hourglass.synthetic.people import iterate_synthetic


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=100, help="images per run")
    parser.add_argument("--repeats", type=int, default=3, help="runs (median)")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args(argv)

    def generate():
        for _ in iterate_synthetic(args.seed, count=args.count):
            pass

    rate = alternating_rates({"people": (generate, args.count)}, args.repeats)[0]
    report = {
        "images": args.count,
        "repeats": args.repeats,
        "images_per_second": round(rate["people"], 1),
        "ms_per_image": round(1000 / rate["people"], 2),
        "machine": machine(),
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
