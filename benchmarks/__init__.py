"""Benchmarks, run from a checkout as `python -m benchmarks.<name>`."""

from training.environment import use_program_defaults

# Before any benchmark imports TensorFlow: the programs' settings (quiet
# start-up, oneDNN kernels), so a benchmark measures what the programs run.
use_program_defaults()
