"""Tests of the evaluation figures: files written, contents drawn, bad logs."""

import numpy as np
import pytest
import skimage.io

from evaluation import plots
from keras_hourglass.joint_sets import MPII_16

SIZE = 32


@pytest.fixture
def saved_figures(monkeypatch):
    """The figures the plots module saves, kept (closed but intact) so that a
    test can read what was drawn: the plotted data, labels and legend."""
    figures = []
    save_figure = plots.save_figure

    def keep_and_save(figure, out_stem):
        figures.append(figure)
        return save_figure(figure, out_stem)

    monkeypatch.setattr(plots, "save_figure", keep_and_save)
    return figures


def legend_labels(axis):
    return [text.get_text() for text in axis.get_legend().get_texts()]


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


def test_accuracy_curves_of_two_models(tmp_path, saved_figures):
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
    (figure,) = saved_figures
    panels = [axis for axis in figure.axes if axis.get_visible()]
    # One panel per MPII group plus Total, each with both models' curves.
    titles = [axis.get_title() for axis in panels]
    assert titles == [label for label, _ in MPII_16.metric_groups] + ["Total"]
    for axis in panels:
        model_a, model_b = axis.get_lines()
        np.testing.assert_allclose(model_a.get_xdata(), thresholds)
        np.testing.assert_allclose(model_a.get_ydata(), np.linspace(0, 100, 11))
        np.testing.assert_allclose(model_b.get_ydata(), np.linspace(0, 50, 11))
    assert legend_labels(panels[0]) == ["model a", "model b"]
    assert panels[0].get_ylabel() == "PCKh (%)"
    assert figure.axes[-1].get_xlabel() == "normalised distance"


def test_stack_accuracy(tmp_path, saved_figures):
    values = [40.0, 55.5, np.nan, 70.0]
    image = check_written(plots.plot_stack_accuracy(values, "PCKh", tmp_path / "s"))
    assert image.std() > 0
    (axis,) = saved_figures[0].axes
    # A bar per stack (a missing value drawn as 0, labelled nan), and a line.
    heights = [bar.get_height() for bar in axis.patches]
    np.testing.assert_allclose(heights, [40.0, 55.5, 0.0, 70.0])
    np.testing.assert_allclose(axis.get_lines()[0].get_ydata(), values)
    value_labels = [text.get_text() for text in axis.texts]
    assert value_labels == ["40.0", "55.5", "nan", "70.0"]
    assert [t.get_text() for t in axis.get_xticklabels()] == ["1", "2", "3", "4"]
    assert (axis.get_xlabel(), axis.get_ylabel()) == ("stack", "PCKh (%)")


def test_training_curves_from_several_logs(tmp_path, saved_figures):
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
    # Logs given as paths, as runs keep them: each in its own run folder.
    run_logs = []
    for name, path in logs.items():
        (tmp_path / name.replace(" ", "_")).mkdir()
        run_logs.append(path.rename(tmp_path / name.replace(" ", "_") / "log.csv"))
    check_written(plots.plot_training_curves(run_logs, tmp_path / "list"))
    by_label, by_path = (figure.axes[0] for figure in saved_figures)
    assert legend_labels(by_label) == ["2 stacks", "8 stacks"]
    for line, expected in zip(by_label.get_lines(), ([10, 20, 30], [15, 30, 45])):
        np.testing.assert_array_equal(line.get_xdata(), [1, 2, 3])
        np.testing.assert_array_equal(line.get_ydata(), expected)
    assert by_label.get_xlabel() == "epoch"
    assert by_label.get_ylabel() == "validation PCKh (%)"
    # Paths without labels are named by their folder.
    assert legend_labels(by_path) == ["2_stacks", "8_stacks"]
    np.testing.assert_array_equal(by_path.get_lines()[1].get_ydata(), [15, 30, 45])


def test_training_curves_never_show_accuracy_below_zero(tmp_path, saved_figures):
    # An untrained run's validation accuracy is 0 at every epoch.
    path = tmp_path / "log.csv"
    path.write_text("epoch,val_pckh\n0,0.0\n1,0.0\n")
    plots.plot_training_curves({"run": path}, tmp_path / "training")
    bottom, top = saved_figures[0].axes[0].get_ylim()
    assert bottom == 0.0
    assert top >= 1.0


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


def test_training_curve_figure_of_an_lsp_run(tmp_path, saved_figures):
    from evaluation.evaluate_outputs import training_curve_figure

    run_dir = tmp_path / "lsp_run"
    run_dir.mkdir()
    log = run_dir / "training_log.csv"
    log.write_text("epoch,val_pck\n0,10.0\n1,25.0\n")
    paths = training_curve_figure(log, "pck", tmp_path)
    assert paths[0].name == "training_curves.png"
    check_written(paths)
    (axis,) = saved_figures[0].axes
    # The LSP run logs torso PCK: that column, so labelled, named by its run.
    np.testing.assert_array_equal(axis.get_lines()[0].get_ydata(), [10.0, 25.0])
    assert axis.get_ylabel() == "validation torso PCK (%)"
    assert legend_labels(axis) == ["lsp_run"]
    loss_only = tmp_path / "loss_only.csv"
    loss_only.write_text("epoch,loss\n0,1.0\n")
    assert training_curve_figure(loss_only, "pckh", tmp_path) == []


def people_and_crops(count=3):
    rng = np.random.default_rng(0)
    images = np.full((count, SIZE, SIZE, 3), 0.5, np.float32)
    keypoints = rng.uniform(4, SIZE - 4, size=(count, 16, 2))
    return images, keypoints


def test_prediction_grid_draws_the_skeleton(tmp_path, saved_figures):
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


def test_stack_comparison_with_heatmap_overlay(tmp_path, saved_figures):
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
        plots.plot_prediction_grid(
            images,
            keypoints,
            MPII_16.skeleton,
            tmp_path / "a",
            joint_names=MPII_16.joint_names,
        )  # fmt: skip
    )
    annotated = np.ones(keypoints.shape[:2])
    annotated[:, :8] = 0  # half the truth is unannotated and must not show
    both = check_written(
        plots.plot_prediction_grid(
            images,
            keypoints,
            MPII_16.skeleton,
            tmp_path / "b",
            joint_names=MPII_16.joint_names,
            scores=np.full(keypoints.shape[:2], 0.9),
            true_keypoints=keypoints + 2.0,
            true_annotated=annotated,
        )  # fmt: skip
    )
    # Two panels per crop: about twice as wide for the same height.
    ratio = (both.shape[1] / both.shape[0]) / (alone.shape[1] / alone.shape[0])
    assert 1.6 < ratio < 2.4
