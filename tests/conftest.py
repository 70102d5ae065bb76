"""Shared test fixtures.

Real pose samples live in `../shared/data` beside the checkout (never copied
into the project); tests that need them skip cleanly when it is absent.
"""

import os
from pathlib import Path

import pytest

from training.environment import use_program_defaults

# Tests run TensorFlow with the settings the programs use (quiet logs, oneDNN
# kernels), set here before any test module imports it.
use_program_defaults()

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(
    os.environ.get(
        "KERAS_HOURGLASS_SHARED_DATA", PROJECT_ROOT.parent / "shared" / "data"
    )
)


@pytest.fixture(scope="session")
def shared_data():
    """Path to `../shared/data`; skips the test when it is not there."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared real data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_shards(tmp_path_factory):
    """Synthetic TFRecord shards (16 train, 8 valid people, 2 shards), written
    once per test run by the project's converter and only read by the tests."""
    from tests.train_helpers import make_synthetic_shards

    return make_synthetic_shards(tmp_path_factory.mktemp("tiny_shards"), 16, 8)
