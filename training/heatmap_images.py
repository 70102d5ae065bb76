"""TensorBoard images of predicted heatmaps and skeletons on a few validation
samples, written with `tf.summary.image` after every epoch."""

import keras
import numpy as np
import tensorflow as tf

from keras_hourglass.heatmaps import decode_heatmaps

JOINT_COLOUR = np.array([1.0, 0.2, 0.2], dtype=np.float32)
BONE_COLOUR = np.array([0.2, 1.0, 0.2], dtype=np.float32)


def upsample_nearest(heatmap, size):
    """Repeats a square [h, w] map up to [size, size] (size a multiple of h)."""
    factor = size // heatmap.shape[0]
    return np.repeat(np.repeat(heatmap, factor, axis=0), factor, axis=1)


def draw_disc(canvas, center_xy, radius, colour):
    """Paints a filled disc (in place) at continuous px `center_xy`."""
    height, width = canvas.shape[:2]
    rows, cols = np.ogrid[:height, :width]
    inside = (cols - center_xy[0]) ** 2 + (rows - center_xy[1]) ** 2 <= radius**2
    canvas[inside] = colour


def draw_segment(canvas, start_xy, end_xy, colour):
    """Paints a one-pixel line (in place) by sampling along the segment."""
    height, width = canvas.shape[:2]
    length = int(np.ceil(np.hypot(*(np.subtract(end_xy, start_xy))))) + 1
    for t in np.linspace(0.0, 1.0, length):
        x, y = np.rint(np.add(start_xy, t * np.subtract(end_xy, start_xy)))
        if 0 <= x < width and 0 <= y < height:
            canvas[int(y), int(x)] = colour


def overlay_prediction(image, heatmaps, skeleton):
    """Returns image [S, S, 3] in [0, 1] blended with the joints' maximum
    heatmap, the decoded joints as dots and `skeleton` bones as lines."""
    size = image.shape[0]
    peak = np.clip(heatmaps.max(axis=-1), 0.0, 1.0)
    heat = upsample_nearest(peak, size)[..., None] * np.array([1.0, 0.8, 0.0])
    canvas = np.clip(0.6 * image + 0.6 * heat, 0.0, 1.0).astype(np.float32)
    coords, _ = decode_heatmaps(heatmaps[None])
    # Heatmap px to input px, pixel centres at integers on both grids.
    ratio = size / heatmaps.shape[0]
    points = (keras.ops.convert_to_numpy(coords)[0] + 0.5) * ratio - 0.5
    for first, second in skeleton:
        draw_segment(canvas, points[first], points[second], BONE_COLOUR)
    for point in points:
        draw_disc(canvas, point, max(1.0, size / 128), JOINT_COLOUR)
    return canvas


class HeatmapImageSummary(keras.callbacks.Callback):
    """Writes `validation/prediction` images (last stack) to `log_dir` each epoch.

    Args:
        images: float [N, S, S, 3] in [0, 1]. A few fixed validation crops.
        log_dir: str. TensorBoard directory (e.g. `run/logs/images`).
        skeleton: list of (joint, joint) pairs drawn as bones.
    """

    def __init__(self, images, log_dir, skeleton=()):
        super().__init__()
        self.images = np.asarray(images, dtype=np.float32)
        self.log_dir = str(log_dir)
        self.skeleton = [tuple(edge) for edge in skeleton]
        self._writer = None

    def on_epoch_end(self, epoch, logs=None):
        if len(self.images) == 0:
            return
        # Called directly, not `predict`: see `pckh_validation.predict_in_batches`.
        outputs = self.model(self.images, training=False)
        last = outputs[-1] if isinstance(outputs, list | tuple) else outputs
        drawn = np.stack(
            [
                overlay_prediction(image, heatmaps, self.skeleton)
                for image, heatmaps in zip(
                    self.images, keras.ops.convert_to_numpy(last)
                )
            ]
        )
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        with self._writer.as_default():
            tf.summary.image(
                "validation/prediction", drawn, step=epoch, max_outputs=len(drawn)
            )
        self._writer.flush()
