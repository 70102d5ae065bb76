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


# Seconds each of the longest tests took in one run with two workers (setup
# included), keyed by test name (with its parameters, or without for all of
# them) so a test keeps its place when its file moves.
# Only the order matters: a long test that starts last leaves the other worker
# idle until it ends.
KNOWN_LONG_TESTS = {
    "test_every_worker_resumes_from_the_chiefs_backup": 143,
    "test_sigkill_during_the_frozen_phase_resumes_then_thaws": 60,
    "test_a_generated_set_converts_trains_evaluates_exports_and_predicts[csv5]": 50,
    "test_two_workers_match_one_process_on_the_same_global_batches": 46,
    "test_every_command_of_the_walkthrough_runs": 41,
    "test_two_step_fit_under_mirrored_strategy_on_two_devices": 37,
    "test_kill_during_final_save_then_during_export_is_repaired": 33,
    "test_three_concurrent_exports_each_get_a_version_or_a_clear_refusal": 32,
    "test_quantized_pckh_is_within_the_bound_of_the_float_model": 29,
    "test_sigkill_mid_epoch_then_rerun_resumes_at_the_step": 26,
    "test_a_generated_set_converts_trains_evaluates_exports_and_predicts": 23,
    "test_ctrl_c_stops_with_one_line_naming_the_command_then_resumes": 20,
    "test_newcomer_mistakes_are_one_line_with_hints_for_the_wheel": 19,
    "test_saved_model_cli_show_and_run": 19,
    "test_unreadable_training_split_stops_then_trains_once_fixed": 18,
    "test_mixed_bfloat16_computes_in_bfloat16_with_float32_outputs": 18,
    "test_quickstart_runs_every_stage_then_reuses_them": 18,
    "test_remat_training_run_saves_a_plain_keras_model": 17,
    "test_a_real_run_prints_epoch_lines_alone_and_the_summary": 17,
    "test_mixed_float16_trains_with_loss_scaling": 16,
    "test_export_serves_the_port_keypoints": 16,
    "test_jit_compile_trains_with_xla": 16,
}
# A test marked slow but not listed above: assume it is long, not longest.
UNLISTED_SLOW_TEST_SECONDS = 20


def expected_seconds(item):
    for name in (item.name, item.originalname):  # "test[param]", then "test"
        if name in KNOWN_LONG_TESTS:
            return KNOWN_LONG_TESTS[name]
    # The test's own mark: a file marked slow as a whole is not all long.
    marked_slow = any(mark.name == "slow" for mark in item.own_markers)
    return UNLISTED_SLOW_TEST_SECONDS if marked_slow else 0


def first_batch_sizes(item_count, worker_count):
    """How many tests `--dist worksteal` first hands each worker: an even
    share of what is left, in collection order."""
    sizes = []
    for remaining_workers in range(worker_count, 0, -1):
        sizes.append((item_count - sum(sizes)) // remaining_workers)
    return sizes


def pytest_collection_modifyitems(config, items):
    """Starts the long tests first on every worker.

    Worksteal gives each worker a contiguous slice of the collection and lets
    an idle worker take the tail of another's queue, so each slice opens with
    its share of the long tests (longest first, spread by their expected
    time) and ends with short ones. Every worker collects the same list, so
    this order is the same on all of them. Tests of one file stay together
    (module fixtures are built once); within a file the long ones go first.
    """
    worker_count = max(1, getattr(config, "workerinput", {}).get("workercount", 1))
    modules = {}
    for item in items:
        modules.setdefault(item.nodeid.split("::")[0], []).append(item)
    for module_items in modules.values():
        module_items.sort(key=lambda item: -expected_seconds(item))  # stable
    long_modules = sorted(
        (tests for tests in modules.values() if expected_seconds(tests[0]) > 0),
        key=lambda tests: -sum(map(expected_seconds, tests)),
    )
    short_items = [
        item
        for tests in modules.values()
        if expected_seconds(tests[0]) == 0
        for item in tests
    ]
    slices = [[] for _ in range(worker_count)]
    slice_seconds = [0] * worker_count
    for tests in long_modules:
        # Longest files first, each to the slice with the least so far.
        emptiest = slice_seconds.index(min(slice_seconds))
        slices[emptiest].append(tests)
        slice_seconds[emptiest] += sum(map(expected_seconds, tests))
    for worker_slice in slices:
        # Each file opens with its longest test: the file with the longest
        # test first, so many middling tests cannot hold back a long one.
        worker_slice.sort(key=lambda tests: -expected_seconds(tests[0]))
    sizes = first_batch_sizes(len(items), worker_count)
    ordered = []
    for worker_slice, size in zip(slices, sizes):
        worker_slice = [item for tests in worker_slice for item in tests]
        fill = max(0, size - len(worker_slice))
        ordered.extend(worker_slice + short_items[:fill])
        del short_items[:fill]
    ordered.extend(short_items)
    items[:] = ordered


@pytest.fixture(scope="session")
def tiny_model_files(tmp_path_factory):
    """(.keras path, SavedModel base folder, its version folder) of the same
    tiny model (`tests.serving_helpers.tiny_model`), exported without warm-up
    records; written once per test process and only read by the tests."""
    from tests.serving_helpers import export_tiny_model

    folder = tmp_path_factory.mktemp("tiny_model_files")
    model, version_dir = export_tiny_model(folder / "export", warmup=False)
    keras_path = folder / "tiny.keras"
    model.save(keras_path)
    return keras_path, folder / "export", version_dir


@pytest.fixture(scope="session")
def installed(tmp_path_factory):
    """(venv bin folder, a working folder outside the checkout) of the wheel
    built from this checkout (`tests.installed_wheel`), once per test
    process; tests write into their own subfolders of the working folder."""
    from tests.installed_wheel import install_wheel

    return install_wheel(tmp_path_factory.mktemp("packaging"))
