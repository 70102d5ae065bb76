"""Tests of the evaluation figures: files written, contents drawn, bad logs."""

import numpy as np
import pytest
import skimage.io

from evaluation import plots
from keras_hourglass.joint_sets import MPII_16

SIZE = 32


def check_written(paths):
    """Both files exist and are non-empty; returns the PNG as an array."""
    assert [path.suffix for path in paths] == [".png", ".pdf"]
    for path in paths:
        assert path.stat().st_size > 0
    assert paths[1].read_bytes().startswith(b"%PDF")
    return skimage.io.imread(paths[0])


def test_group_curves_average_each_groups_joints():
    curve = np.tile(np.arange(16, dtype=float), (3, 1))
    grouped = plots.group_curves(curve, MPII_16.metric_groups, MPII_16.joint_names)
    assert list(grouped)[:2] == ["Head", "Shoulder"]
    np.testing.assert_allclose(grouped["Head"], 9.0)
    np.testing.assert_allclose(grouped["Shoulder"], 12.5)
    np.testing.assert_allclose(grouped["Total"], 7.5)
    assert len(plots.group_curves(curve, (), MPII_16.joint_names)) == 16


def test_accuracy_curves_of_two_models(tmp_path):
    thresholds = np.linspace(0, 0.5, 11)
    rising = np.tile(np.linspace(0, 100, 11)[:, None], (1, 16))
    curves = {"model a": rising, "model b": 0.5 * rising}
    image = check_written(
        plots.plot_accuracy_curves(
            thresholds,
            curves,
            MPII_16.metric_groups,
            MPII_16.joint_names,
            "PCKh",
            tmp_path / "curves",
        )  # fmt: skip
    )
    assert image.shape[1] > image.shape[0] > 100


def test_stack_accuracy(tmp_path):
    image = check_written(
        plots.plot_stack_accuracy([40.0, 55.5, np.nan, 70.0], "PCKh", tmp_path / "s")
    )
    assert image.std() > 0


def test_training_curves_from_several_logs(tmp_path):
    logs = {}
    for name, values in (("2 stacks", "10,20,30"), ("8 stacks", "15,30,45")):
        path = tmp_path / f"{name}.csv"
        rows = [f"{epoch},{value}" for epoch, value in enumerate(values.split(","))]
        path.write_text("epoch,val_pckh\n" + "\n".join(rows) + "\n")
        logs[name] = path
    epochs, values = plots.read_training_log(logs["8 stacks"], "val_pckh")
    np.testing.assert_array_equal(epochs, [1, 2, 3])
    np.testing.assert_array_equal(values, [15, 30, 45])
    check_written(plots.plot_training_curves(logs, tmp_path / "training"))
    check_written(plots.plot_training_curves(list(logs.values()), tmp_path / "list"))


def test_training_log_without_the_column_names_the_file(tmp_path):
    path = tmp_path / "training_log.csv"
    path.write_text("epoch,loss\n0,1.0\n")
    with pytest.raises(ValueError, match="training_log.csv.*val_pckh"):
        plots.plot_training_curves({"run": path}, tmp_path / "training")


def test_accuracy_column_follows_what_the_run_logged(tmp_path):
    lsp_log = tmp_path / "lsp.csv"
    lsp_log.write_text("epoch,loss,val_pck\n0,1.0,20.0\n")
    both_log = tmp_path / "both.csv"
    both_log.write_text("epoch,val_pck,val_pckh\n0,1.0,2.0\n")
    no_accuracy_log = tmp_path / "loss_only.csv"
    no_accuracy_log.write_text("epoch,loss\n0,1.0\n")
    empty_log = tmp_path / "empty.csv"
    empty_log.write_text("")
    assert plots.accuracy_column(lsp_log) == "val_pck"
    assert plots.accuracy_column(both_log) == "val_pckh"
    assert plots.accuracy_column(both_log, prefer="val_pck") == "val_pck"
    assert plots.accuracy_column(no_accuracy_log) is None
    assert plots.accuracy_column(empty_log) is None
    assert plots.accuracy_column(tmp_path / "missing.csv") is None


def test_training_curve_figure_of_an_lsp_run(tmp_path):
    from evaluation.evaluate_outputs import training_curve_figure

    run_dir = tmp_path / "lsp_run"
    run_dir.mkdir()
    log = run_dir / "training_log.csv"
    log.write_text("epoch,val_pck\n0,10.0\n1,25.0\n")
    paths = training_curve_figure([log], "pck", tmp_path)
    assert paths[0].name == "training_curves.png"
    check_written(paths)
    loss_only = tmp_path / "loss_only.csv"
    loss_only.write_text("epoch,loss\n0,1.0\n")
    assert training_curve_figure([loss_only], "pckh", tmp_path) == []


def people_and_crops(count=3):
    rng = np.random.default_rng(0)
    images = np.full((count, SIZE, SIZE, 3), 0.5, np.float32)
    keypoints = rng.uniform(4, SIZE - 4, size=(count, 16, 2))
    return images, keypoints


def test_prediction_grid_draws_the_skeleton(tmp_path):
    images, keypoints = people_and_crops()
    drawn = check_written(
        plots.plot_prediction_grid(images, keypoints, MPII_16.skeleton, tmp_path / "g")
    )
    blank = check_written(
        plots.plot_prediction_grid(images, keypoints[:, :0], (), tmp_path / "b")
    )
    # Same layout; only the limbs and joints change pixels, and many of them.
    assert drawn.shape == blank.shape
    changed = np.any(drawn[..., :3] != blank[..., :3], axis=-1)
    assert changed.mean() > 0.02


def test_stack_comparison_with_heatmap_overlay(tmp_path):
    images, keypoints = people_and_crops(count=5)
    heatmaps = np.random.default_rng(1).random((5, SIZE // 4, SIZE // 4, 16))
    image = check_written(
        plots.plot_stack_comparison(
            images,
            keypoints + 1.0,
            keypoints,
            MPII_16.skeleton,
            ("stack 2", "stack 8 (final)"),
            tmp_path / "comparison",
            heatmaps=(heatmaps, heatmaps),
            max_rows=3,
        )  # fmt: skip
    )
    # Three rows of two crops: taller than wide.
    assert image.shape[0] > image.shape[1]


def test_prediction_grid_shows_ground_truth_beside_the_prediction(tmp_path):
    images, keypoints = people_and_crops(count=2)
    alone = check_written(
        plots.plot_prediction_grid(images, keypoints, MPII_16.skeleton, tmp_path / "a",
                                   joint_names=MPII_16.joint_names)  # fmt: skip
    )
    annotated = np.ones(keypoints.shape[:2])
    annotated[:, :8] = 0  # half the truth is unannotated and must not show
    both = check_written(
        plots.plot_prediction_grid(
            images, keypoints, MPII_16.skeleton, tmp_path / "b",
            joint_names=MPII_16.joint_names, scores=np.full(keypoints.shape[:2], 0.9),
            true_keypoints=keypoints + 2.0, true_annotated=annotated,
        )  # fmt: skip
    )
    # Two panels per crop: about twice as wide for the same height.
    ratio = (both.shape[1] / both.shape[0]) / (alone.shape[1] / alone.shape[0])
    assert 1.6 < ratio < 2.4
