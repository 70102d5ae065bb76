"""Tests of `python -m evaluation.evaluate` on tiny models and datasets."""

import json
import shutil
from pathlib import Path

import h5py
import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from evaluation.evaluate import EvalConfig
from evaluation.evaluate import main
from evaluation.evaluate import parse_config
from evaluation.evaluate import run_evaluation
from evaluation.evaluation_loop import HeatmapModel
from evaluation.evaluation_loop import model_heatmap_source
from evaluation.pckh import evaluate_files
from keras_hourglass.heatmaps import flip_heatmaps
from keras_hourglass.heatmaps import render_heatmaps
from keras_hourglass.joint_sets import MPII_16
from keras_hourglass.model import build_stacked_hourglass
from keras_hourglass.transforms import scale_grid_matrix
from keras_hourglass.transforms import transform_points
from training import make_tfrecords

INPUT_SIZE = 64
EXPECTED_FILES = (
    "config.json", "preds.h5", "preds.csv", "ground_truth.json", "results.json",
    "pckh.md", "pckh.csv", "pckh_per_joint.csv", "pckh_curve.csv",
    "per_stack.md", "per_stack.csv",
)  # fmt: skip
EXPECTED_FIGURES = (
    "pckh_curves", "stack_accuracy", "training_curves", "predictions",
    "stack_comparison",
)  # fmt: skip


@pytest.fixture(scope="module")
def synthetic_data(tmp_path_factory):
    out = tmp_path_factory.mktemp("data") / "synthetic"
    make_tfrecords.main(["--format", "synthetic", "--seed", "0", "--count", "2",
                         "--val-count", "6", "--out", str(out)])  # fmt: skip
    return out


@pytest.fixture(scope="module")
def run_dir(tiny_model_files, tmp_path_factory):
    """A run directory with an untrained 2-stack model (the session's tiny
    model) and a CSV log."""
    directory = tmp_path_factory.mktemp("run")
    shutil.copyfile(tiny_model_files[0], directory / "final.keras")
    (directory / "training_log.csv").write_text(
        "epoch,loss,val_pckh_stack1,val_pckh_stack2,val_pckh\n"
        "0,1.0,5.0,6.0,6.0\n1,0.5,20.0,25.0,25.0\n"
    )
    return directory


@pytest.fixture(scope="module")
def run_evaluated(run_dir, synthetic_data, tmp_path_factory):
    """`(status, output folder)` of the program on `run_dir`: one evaluation,
    read by the tests below (none of them writes to it)."""
    out = tmp_path_factory.mktemp("eval") / "eval"
    status = main(["--model", str(run_dir), "--data", str(synthetic_data),
                   "--out", str(out), "--batch-size", "4"])  # fmt: skip
    return status, out


@pytest.mark.slow
def test_untrained_model_end_to_end(run_evaluated):
    status, out = run_evaluated
    assert status == 0
    for name in EXPECTED_FILES:
        assert (out / name).stat().st_size > 0, name
    for stem in EXPECTED_FIGURES:
        for suffix in (".png", ".pdf"):
            assert (out / "figures" / f"{stem}{suffix}").stat().st_size > 0
    results = json.loads((out / "results.json").read_text())
    assert results["metric"] == "pckh" and results["people"] == 6
    means = [results["mean"], *results["per_stack_mean"].values()]
    assert all(0.0 <= value <= 100.0 for value in means)
    per_stack = pd.read_csv(out / "per_stack.csv", index_col=0)
    assert list(per_stack.index) == ["stack1", "stack2"]
    with h5py.File(out / "preds.h5") as file:
        assert file["preds"].shape == (6, 16, 2)
        np.testing.assert_array_equal(file["preds"][()], file["preds_stack2"][()])
    # The written files re-score to the same table with the standalone scorer.
    rescored = evaluate_files(out / "ground_truth.json", out / "preds.h5")
    assert rescored.groups["Mean"] == pytest.approx(results["mean"], nan_ok=True)


def test_a_model_without_intermediate_outputs_reports_its_last_stack(
    synthetic_data, tmp_path
):
    model = build_stacked_hourglass(
        n_stacks=2, n_features=8, depth=2, input_shape=(INPUT_SIZE, INPUT_SIZE, 3),
        intermediate_supervision=False,
    )  # fmt: skip
    model.save(tmp_path / "final.keras")
    out = tmp_path / "eval"
    model_path = str(tmp_path / "final.keras")
    status = main(["--model", model_path, "--data", str(synthetic_data),
                   "--out", str(out), "--batch-size", "6"])  # fmt: skip
    assert status == 0
    results = json.loads((out / "results.json").read_text())
    assert list(results["per_stack_mean"]) == ["stack2"]
    with h5py.File(out / "preds.h5") as file:
        assert "preds_stack2" in file and "preds_stack1" not in file


def render_truth(meta, input_size):
    """Heatmaps [B, h, h, K] with a Gaussian on every ground-truth joint."""
    output_size = input_size // 4
    to_heatmap = tf.linalg.matmul(
        scale_grid_matrix(input_size, output_size), meta["crop_matrix"]
    )
    joints = transform_points(meta["joints"], to_heatmap)
    maps = [
        render_heatmaps(points, annotated, output_size)[0]
        for points, annotated in zip(joints, meta["joints_annotated"])
    ]
    return tf.stack(maps)


def perfect_source(flip_pairs, flip, num_stacks=2):
    """A heatmap source whose network answers every crop (and its mirror
    image) with the ground truth's heatmaps."""

    def source(images, meta):
        truth = render_truth(meta, int(images.shape[1]))
        mirrored = flip_heatmaps(truth, flip_pairs)

        def perfect_network(batch, training=False):
            doubled = batch.shape[0] == 2 * truth.shape[0]
            maps = tf.concat([truth, mirrored], 0) if doubled else truth
            return [maps] * num_stacks

        return model_heatmap_source(perfect_network, flip_pairs, flip)(images, meta)

    return source


def evaluate_perfect(data, out, input_size, flip, split="valid", metric="auto",
                     num_examples=8):  # fmt: skip
    config = EvalConfig(
        data=str(data), out=str(out), split=split, flip=flip, metric=metric,
        batch_size=2, num_examples=num_examples,
    )  # fmt: skip
    model = HeatmapModel(None, input_size, 16, "perfect")
    return run_evaluation(config, model, perfect_source(MPII_16.flip_pairs, flip))


@pytest.fixture(scope="module")
def real_mpii_data(shared_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("data") / "mpii"
    make_tfrecords.main([
        "--format", "mpii", "--out", str(out),
        "--annotations",
        str(shared_data / "mpii_annotations/mpii_annotations.json.gz"),
        "--images", str(shared_data / "mpii_samples"),
        "--mpii-valid-gt",
        str(shared_data / "mpii_valid_gt/detections_our_format.mat"),
    ])  # fmt: skip
    return out


@pytest.mark.parametrize("flip", [True, False])
def test_perfect_model_scores_100_on_real_mpii(real_mpii_data, tmp_path, flip):
    results = evaluate_perfect(real_mpii_data, tmp_path, 256, flip)
    assert results["metric"] == "pckh" and results["people"] == 2
    assert results["mean"] == 100.0
    assert all(v == 100.0 for v in results["per_stack_mean"].values())
    # Sub-pixel decoding and the inverse crop land within 0.1 head sizes.
    curve = pd.read_csv(tmp_path / "pckh_curve.csv").set_index("threshold")
    assert np.nanmin(curve.loc[0.1].to_numpy()) == 100.0
    assert np.nanmax(curve.loc[0.0].to_numpy()) == 0.0


def test_real_mpii_without_head_boxes_falls_back_to_torso_pck(real_mpii_data, tmp_path):
    results = evaluate_perfect(real_mpii_data, tmp_path, 256, True, split="train")
    assert results["metric"] == "pck" and results["threshold"] == 0.2
    assert results["mean"] == 100.0
    assert (tmp_path / "pck.md").is_file()


def test_perfect_model_scores_100_on_synthetic(synthetic_data, tmp_path):
    results = evaluate_perfect(synthetic_data, tmp_path, INPUT_SIZE, True)
    assert results["people"] == 6 and results["mean"] == 100.0
    with h5py.File(tmp_path / "preds.h5") as file:
        predictions, crop_matrices = file["preds"][()], file["crop_matrix"][()]
    truth = json.loads((tmp_path / "ground_truth.json").read_text())["people"]
    joints = np.array([person["joints"] for person in truth])
    annotated = np.array([person["joints_annotated"] for person in truth]) > 0
    # Errors in heatmap px: the quarter-pixel shift leaves at most 0.25 per
    # axis (0.5 at the grid border); truncating to integers would not.
    to_heatmap = scale_grid_matrix(INPUT_SIZE, INPUT_SIZE // 4) @ crop_matrices
    offsets = transform_points(predictions, to_heatmap) - transform_points(
        joints, to_heatmap
    )
    errors = np.abs(np.asarray(offsets))[annotated]
    assert errors.max() <= 0.5 + 1e-3
    assert np.mean(errors <= 0.25 + 1e-3) > 0.9


def test_no_example_crops_writes_tables_and_curves_without_the_crop_figures(
    synthetic_data, tmp_path
):
    results = evaluate_perfect(
        synthetic_data, tmp_path, INPUT_SIZE, True, num_examples=0
    )
    assert results["mean"] == 100.0
    figures = {Path(path).stem for path in results["figures"]}
    assert "stack_accuracy" in figures
    assert not {"predictions", "stack_comparison"} & figures


def mirror_symmetric_model():
    """Average pooling plus a 1x1 conv whose left and right channels share
    weights: mirroring the input mirrors the output and swaps nothing."""
    images = keras.Input((INPUT_SIZE, INPUT_SIZE, 3))
    pooled = keras.layers.AveragePooling2D(4)(images)
    convolution = keras.layers.Conv2D(16, 1, bias_initializer="random_normal")
    heatmaps = convolution(pooled)
    model = keras.Model(images, [heatmaps, keras.layers.Rescaling(2.0)(heatmaps)])
    kernel, bias = convolution.get_weights()
    for left, right in MPII_16.flip_pairs:
        kernel[..., right], bias[right] = kernel[..., left], bias[left]
    convolution.set_weights([kernel, bias])
    return model


def test_flip_test_of_a_mirror_symmetric_model_changes_nothing(
    synthetic_data, tmp_path
):
    model = mirror_symmetric_model()
    wrapped = HeatmapModel(model, INPUT_SIZE, 16, "symmetric")
    predictions = {}
    for flip in (True, False):
        config = EvalConfig(data=str(synthetic_data), out=str(tmp_path / str(flip)),
                            flip=flip, batch_size=3)  # fmt: skip
        run_evaluation(config, wrapped)
        with h5py.File(tmp_path / str(flip) / "preds.h5") as file:
            predictions[flip] = file["preds"][()]
    np.testing.assert_allclose(predictions[True], predictions[False], atol=1e-3)


def test_flags_come_from_the_config_fields():
    config = parse_config(["--model", "m", "--data", "d", "--out", "o", "--no-flip",
                           "--threshold", "0.3", "--metric", "pck"])  # fmt: skip
    assert config == EvalConfig(model="m", data="d", out="o", flip=False,
                                threshold=0.3, metric="pck")  # fmt: skip
    assert parse_config(["--model", "m", "--data", "d", "--out", "o"]).flip


def test_missing_model_path_is_a_clear_error(synthetic_data, tmp_path, capsys):
    missing = tmp_path / "no_such_run"
    status = main(["--model", str(missing), "--data", str(synthetic_data),
                   "--out", str(tmp_path / "out")])  # fmt: skip
    assert status == 2
    assert str(missing) in capsys.readouterr().err


def test_data_folder_without_dataset_json_is_a_clear_error(run_dir, tmp_path, capsys):
    status = main(["--model", str(run_dir), "--data", str(tmp_path),
                   "--out", str(tmp_path / "out")])  # fmt: skip
    assert status == 2
    error = capsys.readouterr().err
    assert "dataset.json" in error and str(tmp_path) in error


def test_joint_count_mismatch_is_a_clear_error(synthetic_data, tmp_path, capsys):
    model = build_stacked_hourglass(
        n_stacks=1, n_joints=14, n_features=8, depth=2,
        input_shape=(INPUT_SIZE, INPUT_SIZE, 3),
    )  # fmt: skip
    model.save(tmp_path / "lsp.keras")
    status = main(["--model", str(tmp_path / "lsp.keras"), "--data",
                   str(synthetic_data), "--out", str(tmp_path / "out")])  # fmt: skip
    assert status == 2
    error = capsys.readouterr().err
    assert "14 joints" in error and "16" in error


@pytest.mark.slow
def test_saved_model_export_evaluates_like_the_keras_model(
    tiny_model_files, run_evaluated, synthetic_data, tmp_path
):
    # The session's export of the model in `run_dir` (its joint set: MPII).
    export_dir = tiny_model_files[1]
    # The same command as `run_evaluated`, on the export.
    saved_out = tmp_path / "saved"
    assert main(["--model", str(export_dir), "--data", str(synthetic_data),
                 "--out", str(saved_out), "--batch-size", "4"]) == 0  # fmt: skip
    predictions = {}
    for name, out in (("keras", run_evaluated[1]), ("saved", saved_out)):
        with h5py.File(out / "preds.h5") as file:
            predictions[name] = file["preds_stack1"][()], file["preds"][()]
    for keras_stack, saved_stack in zip(predictions["keras"], predictions["saved"]):
        np.testing.assert_allclose(keras_stack, saved_stack, atol=1e-2)


@pytest.mark.parametrize(
    "flag, value",
    [
        ("--threshold", "nan"),
        ("--threshold", "-1"),
        ("--threshold", "0"),
        ("--threshold", "inf"),
        ("--batch-size", "0"),
        ("--num-examples", "-5"),
        ("--max-people", "-1"),
        ("--compare-stack", "0"),
    ],
)
def test_out_of_range_numbers_are_refused_naming_the_flag(flag, value, capsys):
    with pytest.raises(SystemExit) as stopped:
        parse_config(["--model", "m", "--data", "d", "--out", "o", flag, value])
    assert stopped.value.code == 2
    last_line = capsys.readouterr().err.strip().splitlines()[-1]
    assert last_line.startswith("error: argument " + flag) or (
        "error:" in last_line and flag in last_line
    ), last_line
    assert value in last_line
