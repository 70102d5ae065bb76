"""Benchmarks, run from a checkout as `python -m benchmarks.<name>`, and the
timing and machine description they share."""

import os
import platform
import statistics
import time

from training.environment import use_program_defaults

# Before any benchmark imports TensorFlow: the programs' settings (quiet
# start-up, oneDNN kernels), so a benchmark measures what the programs run.
use_program_defaults()


def alternating_rates(steps, repeats):
    """Times {name: (step, items per call)} in alternating rounds, so other
    load slows every step alike; returns the median {name: items per second}
    of wall time and of this process's CPU time (which moves less with load)."""
    for step, _ in steps.values():
        step()
        step()
    walls = {name: [] for name in steps}
    cpus = {name: [] for name in steps}
    for _ in range(repeats):
        for name, (step, _) in steps.items():
            wall, cpu = time.perf_counter(), time.process_time()
            step()
            walls[name].append(time.perf_counter() - wall)
            cpus[name].append(time.process_time() - cpu)
    return (
        {name: steps[name][1] / statistics.median(t) for name, t in walls.items()},
        {name: steps[name][1] / statistics.median(t) for name, t in cpus.items()},
    )


def processor_name():
    """The CPU model name (as `lscpu` shows it) where Linux says it."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine():
    """The machine a figure was measured on, for the printed JSON."""
    return {"processor": processor_name(), "cpus": os.cpu_count()}


def smooth_random_jpeg(height, width, rng):
    """A JPEG of smooth random colours plus noise, which decodes as a photo does."""
    import tensorflow as tf  # after `use_program_defaults`

    coarse = rng.uniform(0, 255, (height // 16, width // 16, 3))
    image = tf.image.resize(coarse[None], (height, width), method="bicubic")[0]
    noise = rng.normal(0, 8, image.shape)
    pixels = tf.cast(tf.clip_by_value(image + noise, 0, 255), tf.uint8)
    return tf.io.encode_jpeg(pixels, quality=90).numpy()
