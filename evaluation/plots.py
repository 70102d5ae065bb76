"""Figures of an evaluation, in the style of Newell et al. 2016, each saved as
`<out_stem>.png` and `.pdf` (Agg backend: no display needed).

Images are float [S, S, 3] crops in [0, 1]; keypoints are (x, y) in crop px
with pixel centres at integers, which is also how `imshow` places pixels.
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import pandas as pd

from evaluation.metrics import METRIC_LOG_NAMES
from keras_hourglass import drawing

FIGURE_DPI = 120


def save_figure(figure, out_stem):
    """Saves `figure` as PNG and PDF, closes it, returns the paths."""
    out_stem = Path(out_stem)
    out_stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [out_stem.with_suffix(".png"), out_stem.with_suffix(".pdf")]
    for path in paths:
        figure.savefig(path, dpi=FIGURE_DPI, bbox_inches="tight")
    plt.close(figure)
    return paths


def group_curves(curve, groups, joint_names):
    """{label: curve [T]}: each group's mean, or each joint's (no groups)."""
    curve = np.asarray(curve, np.float64)
    if not groups:
        return {name: curve[:, index] for index, name in enumerate(joint_names)}
    with np.errstate(invalid="ignore"):
        grouped = {
            label: np.nanmean(curve[:, list(ids)], axis=1) for label, ids in groups
        }
        grouped["Total"] = np.nanmean(curve, axis=1)
    return grouped


def plot_accuracy_curves(thresholds, curves_by_model, groups, joint_names,
                         metric_label, out_stem):  # fmt: skip
    """Accuracy against the normalised distance, as the paper's MPII figure:
    one panel per joint group, comparing {model: curve T x K}."""
    per_model = {
        model: group_curves(curve, groups, joint_names)
        for model, curve in curves_by_model.items()
    }
    labels = list(next(iter(per_model.values())))
    columns = min(4, len(labels))
    rows = int(np.ceil(len(labels) / columns))
    figure, axes = plt.subplots(
        rows, columns, figsize=(3.2 * columns, 2.8 * rows), squeeze=False,
        sharex=True, sharey=True,
    )  # fmt: skip
    for axis, label in zip(axes.flat, labels):
        for model, grouped in per_model.items():
            axis.plot(thresholds, grouped[label], linewidth=2, label=model)
        axis.set(title=label, ylim=(0, 100), xlim=(thresholds[0], thresholds[-1]))
        axis.grid(alpha=0.3)
    for axis in axes.flat[len(labels) :]:
        axis.set_visible(False)
    for axis in axes[:, 0]:
        axis.set_ylabel(f"{metric_label} (%)")
    for axis in axes[-1, :]:
        axis.set_xlabel("normalised distance")
    axes[0, 0].legend(loc="lower right", fontsize="small")
    figure.suptitle(f"{metric_label} against the normalised distance")
    return save_figure(figure, out_stem)


def plot_stack_accuracy(values, metric_label, out_stem):
    """Accuracy of every stack's prediction in percent (bars), as Fig. 9 right."""
    values = np.asarray(values, np.float64)
    positions = np.arange(1, len(values) + 1)
    figure, axis = plt.subplots(figsize=(max(4.0, 0.7 * len(values) + 2), 3.2))
    bars = axis.bar(positions, np.nan_to_num(values), color="tab:blue", alpha=0.8)
    axis.plot(positions, values, color="tab:red", marker="o")
    axis.bar_label(bars, labels=[f"{v:.1f}" for v in values], fontsize="small")
    axis.set_xticks(positions, [str(p) for p in positions])
    axis.set(xlabel="stack", ylabel=f"{metric_label} (%)", ylim=(0, 105),
             title=f"{metric_label} of each stack's prediction")  # fmt: skip
    axis.grid(axis="y", alpha=0.3)
    return save_figure(figure, out_stem)


def plot_stack_accuracy_by_variant(per_stack, metric_label, out_stem):
    """{variant: {stack number: accuracy}} as one line per variant (Fig. 9)."""
    figure, axis = plt.subplots(figsize=(5.5, 3.5))
    for variant, values in per_stack.items():
        stacks = sorted(values)
        axis.plot(stacks, [values[s] for s in stacks], marker="o", label=variant)
    axis.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    axis.set(xlabel="stack", ylabel=f"{metric_label} (%)",
             title=f"{metric_label} at each stack")  # fmt: skip
    axis.grid(alpha=0.3)
    axis.legend(fontsize="small")
    return save_figure(figure, out_stem)


def read_training_log(path, column):
    """(epochs, values) of `column` of a Keras CSVLogger file."""
    table = pd.read_csv(path)
    if column not in table.columns:
        raise ValueError(f"{path}: no column {column!r} (found {list(table.columns)})")
    epochs = table["epoch"] + 1 if "epoch" in table.columns else table.index + 1
    return np.asarray(epochs), table[column].to_numpy(np.float64)


def accuracy_column(path, prefer="val_pckh"):
    """The validation-accuracy column of a CSV log: `prefer`, else the first
    `val_<metric>` it holds; None when it has none."""
    try:
        columns = list(pd.read_csv(path, nrows=0).columns)
    except (OSError, pd.errors.EmptyDataError):
        return None
    for column in (prefer, *(f"val_{name}" for name in METRIC_LOG_NAMES.values())):
        if column in columns:
            return column
    return None


def plot_training_curves(logs, out_stem, column="val_pckh", metric_label="PCKh"):
    """Validation accuracy over epochs, one line per run (as Fig. 8); `logs`
    maps labels to CSV logs, or lists logs labelled by their folders."""
    if not isinstance(logs, dict):
        logs = {Path(path).parent.name or str(path): path for path in logs}
    figure, axis = plt.subplots(figsize=(5.5, 3.5))
    for label, path in logs.items():
        epochs, values = read_training_log(path, column)
        axis.plot(epochs, values, marker="o", markersize=3, label=label)
    axis.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    # Accuracy is a percentage: the automatic margins would put an untrained
    # run's zeros in the middle of a negative axis.
    bottom, top = axis.get_ylim()
    axis.set_ylim(max(bottom, 0.0), max(top, 1.0))
    axis.set(xlabel="epoch", ylabel=f"validation {metric_label} (%)",
             title="validation accuracy during training")  # fmt: skip
    axis.grid(alpha=0.3)
    axis.legend(fontsize="small")
    return save_figure(figure, out_stem)


def drawn_crop(image, keypoints, skeleton, joint_names=None, scores=None,
               heatmap=None):  # fmt: skip
    """A crop as uint8 with one skeleton drawn, over a heatmap when given."""
    image = np.clip(np.asarray(image, np.float64), 0.0, 1.0)
    if heatmap is not None:  # [h, w] over the same window, upsampled, jet colours
        size, heatmap = image.shape[0], np.asarray(heatmap, np.float64)
        factor = max(1, size // heatmap.shape[0])
        heat = np.kron(heatmap, np.ones((factor, factor)))[:size, :size]
        heat = heat / max(float(heat.max()), 1e-6)
        image = 0.55 * image + 0.45 * plt.get_cmap("jet")(heat)[..., :3]
    keypoints = np.asarray(keypoints, np.float64)
    joint_names = joint_names or [f"joint{i}" for i in range(keypoints.shape[0])]
    return drawing.draw_poses(
        image, keypoints[None], joint_names, skeleton, labels=[""],
        scores=None if scores is None else np.reshape(scores, (1, -1)),
    )  # fmt: skip


def show_crop(axis, image):
    """Shows a crop (float [0, 1] or uint8) without axes."""
    height, width = image.shape[:2]
    axis.imshow(image, extent=(-0.5, width - 0.5, height - 0.5, -0.5))
    axis.set_axis_off()


def plot_prediction_grid(images, keypoints, skeleton, out_stem, columns=4,
                         titles=None, joint_names=None, scores=None,
                         true_keypoints=None, true_annotated=None):  # fmt: skip
    """Crops with their predicted skeletons (low `scores` faint), each beside
    its ground truth when `true_keypoints` are given."""
    count = len(images)
    if true_keypoints is not None:
        columns = max(1, columns // 2)  # each cell holds two panels
    columns = max(1, min(columns, count))
    rows = int(np.ceil(count / columns))
    width = 2.6 * (1 if true_keypoints is None else 2)
    # Constrained layout places the legend line right above the grid (the
    # default leaves a band of white under a suptitle).
    figure, axes = plt.subplots(rows, columns, squeeze=False, layout="constrained",
                                figsize=(width * columns, 2.8 * rows))  # fmt: skip
    names = list(joint_names or [f"joint{i}" for i in range(np.shape(keypoints)[1])])
    for index, axis in enumerate(axes.flat):
        if index >= count:
            axis.set_visible(False)
            continue
        image = np.clip(np.asarray(images[index], np.float64), 0.0, 1.0)
        score = None if scores is None else np.asarray(scores[index])[None]
        if true_keypoints is None:
            cell = drawn_crop(image, keypoints[index], skeleton, names, score)
        else:
            cell = drawing.draw_truth_beside_prediction(
                image, np.asarray(true_keypoints[index])[None],
                np.asarray(true_annotated[index])[None],
                np.asarray(keypoints[index])[None], score, names, skeleton,
                titles=("truth", "prediction"),
            )  # fmt: skip
        show_crop(axis, cell)
        if titles is not None:
            axis.set_title(titles[index], fontsize="small")
    figure.suptitle(drawing.legend_text(), fontsize="small")
    return save_figure(figure, out_stem)


def plot_stack_comparison(images, intermediate_keypoints, final_keypoints, skeleton,
                          column_titles, out_stem, heatmaps=None, max_rows=4,
                          joint_names=None):  # fmt: skip
    """An intermediate stack's prediction beside the final one (Fig. 9 left),
    one crop per row, over the joints' maximum of the pair of `heatmaps`."""
    rows = min(len(images), max_rows)
    figure, axes = plt.subplots(rows, 2, figsize=(5.2, 2.6 * rows), squeeze=False)
    for row in range(rows):
        for column, points in enumerate((intermediate_keypoints, final_keypoints)):
            overlay = None
            if heatmaps is not None:
                overlay = np.asarray(heatmaps[column][row]).max(axis=-1)
            show_crop(
                axes[row, column],
                drawn_crop(images[row], points[row], skeleton, joint_names,
                           heatmap=overlay),
            )  # fmt: skip
    for column, title in enumerate(column_titles):
        axes[0, column].set_title(title)
    return save_figure(figure, out_stem)
