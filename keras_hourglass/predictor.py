"""One-call pose inference on images, from any kind of saved hourglass.

    from keras_hourglass import predict_poses
    poses = predict_poses("runs/demo/final.keras", "photo.jpg",
                          boxes=[[40, 10, 120, 300], [200, 30, 110, 280]])
    poses.keypoints   # [P, K, 2] (x, y) original image px, P people
    poses.scores      # [P, K] heatmap peak values
    poses.inside      # [P, K] True where the keypoint lies inside the image

`model` is a `keras.Model`, anything `saving.load_model` reads, or a TF
Serving REST model URL. Every kind runs the export's `serving_default`
signature or its graph functions, so all crop and decode alike.

Images are paths, encoded JPEG/PNG bytes or uint8 arrays [H, W, 3]. Boxes
are (x, y, w, h) with pixel edges at integers (`serving.inputs`), none (or
w <= 0) meaning the whole image, or a person detector: a function from a
uint8 image to its people's boxes [P, 4]. Keypoints have pixel centres at
integers; the network predicts every joint, also those it cannot see, so
`inside` flags the guesses outside the image.
"""

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import PIL.Image

from keras_hourglass.joint_sets import numbered_joint_set


@dataclass
class Poses:
    """The people predicted on one image (P people, K joints).

    Attributes:
        keypoints: float32 [P, K, 2]. (x, y) in original image px.
        scores: float32 [P, K]. Heatmap peak values (about 1 at a sure joint).
        inside: bool [P, K]. The keypoint lies inside the image.
        boxes: float32 [P, 4]. Each person's box (zeros: the whole image).
        image_size: (height, width) of the image.
    """

    keypoints: np.ndarray
    scores: np.ndarray
    inside: np.ndarray
    boxes: np.ndarray
    image_size: tuple

    def __len__(self):
        return len(self.keypoints)


def inside_image(keypoints, height, width):
    """bool [..., K]: keypoints [..., K, 2] inside the image (edges at -0.5)."""
    keypoints = np.asarray(keypoints, np.float64)
    x, y = keypoints[..., 0], keypoints[..., 1]
    return (x >= -0.5) & (x < width - 0.5) & (y >= -0.5) & (y < height - 0.5)


def encode_image(image):
    """Encoded bytes of a path, bytes or uint8 array (as lossless PNG);
    turned upright by their EXIF orientation, so keypoints are in the
    coordinates of the picture as a viewer shows it."""
    from keras_hourglass.data.image_checks import upright_image_bytes

    if isinstance(image, bytes):
        return upright_image_bytes(image)
    if isinstance(image, str | Path):
        path = Path(image)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: image file not found")
        return upright_image_bytes(path.read_bytes())
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[-1] not in (3, 4) or array.dtype != np.uint8:
        raise ValueError(
            f"an image array must be uint8 [H, W, 3]; got {array.dtype} {array.shape}"
        )
    buffer = io.BytesIO()
    PIL.Image.fromarray(array[..., :3]).save(buffer, format="PNG")
    return buffer.getvalue()


def encoded_image_size(encoded, where="image"):
    """(height, width) of encoded image bytes, from the header."""
    try:
        width, height = PIL.Image.open(io.BytesIO(encoded)).size
    except (PIL.UnidentifiedImageError, OSError) as error:
        raise ValueError(f"{where}: not a readable JPEG/PNG image ({error})") from None
    return height, width


def finite_boxes(boxes, what):
    """float32 [P, 4] boxes; ValueError naming `what` when one is not finite."""
    array = np.asarray(boxes, np.float64).reshape(-1, 4)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{what} must be finite (x, y, w, h); got {array.tolist()}")
    return array.astype(np.float32)


def detector_boxes(detector, encoded):
    """float32 [P, 4] boxes a detector finds in an encoded image (P >= 0)."""
    with PIL.Image.open(io.BytesIO(encoded)) as image:
        pixels = np.asarray(image.convert("RGB"))
    return finite_boxes(detector(pixels), "the boxes function's boxes")


def boxes_per_image(boxes, count):
    """One float32 [P, 4] array per image: `boxes` is None (whole images)
    or per image None, a box or several boxes."""
    if boxes is None:
        return [np.zeros([1, 4], np.float32) for _ in range(count)]
    if len(boxes) != count:
        raise ValueError(f"got {len(boxes)} box entries for {count} images")
    return [
        finite_boxes(entry, "boxes")
        if entry is not None and np.size(entry)
        else np.zeros([1, 4], np.float32)  # the whole image
        for entry in boxes
    ]


@dataclass
class Backend:
    """What a `PosePredictor` runs: `predict(encoded_images, boxes [N, 4])`
    -> (keypoints [N, K, 2], scores [N, K]), and the `joint_set` of the
    predictions (None until known, for a server)."""

    predict: object
    joint_set: object


def graph_backend(function, joint_set):
    """A `Backend` running `function(images, boxes)` -> {"keypoints",
    "scores"}: a `serving_default` signature or the same graph function
    (`signatures.make_keypoints_function`) around a model or heatmap file."""

    def predict(encoded_images, boxes):
        import tensorflow as tf

        outputs = function(
            tf.constant(encoded_images, tf.string), tf.constant(boxes, tf.float32)
        )
        return np.asarray(outputs["keypoints"]), np.asarray(outputs["scores"])

    return Backend(predict, joint_set)


class PosePredictor:
    """Predicts poses with a `Backend`; `joint_set` overrides the backend's."""

    def __init__(self, backend, joint_set=None):
        self.backend = backend
        self._joint_set = joint_set

    @property
    def joint_set(self):
        """The joint names, flip pairs and skeleton of the predictions."""
        return self._joint_set or self.backend.joint_set

    def __call__(self, images, boxes=None, batch_size=8):
        """Returns `Poses` for one image, or a list of them for a list.

        Args:
            images: a path, bytes or uint8 array, or a list of them.
            boxes: for one image: None, a box or [P, 4] boxes; for a list:
                None or one such entry per image; or a person detector.
            batch_size: int. People per model call.
        """
        if isinstance(images, np.ndarray) and images.ndim == 4:
            images = list(images)
        single = isinstance(images, str | Path | bytes | np.ndarray)
        if single:
            images = [images]
            boxes = [boxes] if boxes is not None and not callable(boxes) else boxes
        encoded = [encode_image(image) for image in images]
        sizes = [encoded_image_size(data, str(image)[:80]) for data, image in
                 zip(encoded, images)]  # fmt: skip
        if callable(boxes):
            per_image = [detector_boxes(boxes, data) for data in encoded]
        else:
            per_image = boxes_per_image(boxes, len(encoded))
        pairs = [(i, box) for i, image_boxes in enumerate(per_image)
                 for box in image_boxes]  # fmt: skip
        keypoints, scores = [], []
        for start in range(0, len(pairs), batch_size):
            batch = pairs[start : start + batch_size]
            points, score = self.backend.predict(
                [encoded[i] for i, _ in batch], np.stack([box for _, box in batch])
            )
            if self._joint_set is None and self.backend.joint_set is None:
                self._joint_set = numbered_joint_set(points.shape[1])
            keypoints.append(np.asarray(points, np.float32))
            scores.append(np.asarray(score, np.float32))
        if not pairs:  # a detector found nobody in any image
            joints = self.joint_set.num_joints if self.joint_set else 0
            keypoints = [np.zeros([0, joints, 2], np.float32)]
            scores = [np.zeros([0, joints], np.float32)]
        keypoints, scores = np.concatenate(keypoints), np.concatenate(scores)
        owner = np.array([i for i, _ in pairs], dtype=np.int64)
        poses = []
        for index, (height, width) in enumerate(sizes):
            mine = owner == index
            poses.append(
                Poses(
                    keypoints=keypoints[mine],
                    scores=scores[mine],
                    inside=inside_image(keypoints[mine], height, width),
                    boxes=per_image[index],
                    image_size=(height, width),
                )
            )
        return poses[0] if single else poses


def load_predictor(model, joint_set=None, flip_test=True, timeout=60.0,
                   crop_convention=None):  # fmt: skip
    """Returns a `PosePredictor` for a model object, file, folder or URL.

    Args:
        model: `keras.Model`, `saving.LoadedModel`, anything
            `saving.load_model` reads, or a TF Serving REST URL.
        joint_set: JointSet or None. Default: the one the model records,
            else the built-in set with the model's joint count.
        flip_test: bool. Average with the mirrored crop (an export or server
            fixed this when it was exported).
        timeout: float. Seconds to wait for a server's answer.
        crop_convention: `transforms.CropConvention` or None. Keras models
            only; None: the one the model file records, else ours.
    """
    # Imported here: they load TensorFlow, which the types above do not need.
    from keras_hourglass.model import joint_count
    from keras_hourglass.saving import LoadedModel
    from keras_hourglass.saving import load_model
    from keras_hourglass.serving.signatures import make_keypoints_function
    from keras_hourglass.transforms import OFFICIAL_TORCH

    text = str(model)
    if text.startswith(("http://", "https://")):
        from keras_hourglass.serving.client import RestClient

        rest = RestClient(text, timeout=timeout)
        return PosePredictor(Backend(rest.predict, None), joint_set)
    if hasattr(model, "outputs"):
        joint_set = joint_set or numbered_joint_set(joint_count(model))
        crop_convention = crop_convention or OFFICIAL_TORCH
        return keras_predictor(model, joint_set, flip_test, crop_convention)
    loaded = model if isinstance(model, LoadedModel) else load_model(model)
    if loaded.export is not None:
        signature = loaded.export.signatures["serving_default"]
        backend = graph_backend(
            lambda images, boxes: signature(images=images, boxes=boxes),
            loaded.joint_set,
        )
        return PosePredictor(backend, joint_set)
    joint_set = joint_set or loaded.joint_set or numbered_joint_set(loaded.num_joints)
    if loaded.heatmap_file is None:
        crop_convention = crop_convention or loaded.crop_convention
        return keras_predictor(
            loaded.keras_model, joint_set, flip_test, crop_convention
        )
    # The heatmap file runs eagerly between the export's graph functions.
    metadata = {**loaded.heatmap_file.metadata, "flip_test": flip_test}
    metadata["flip_pairs"] = joint_set.flip_pairs
    function = make_keypoints_function(loaded.heatmap_file, metadata)
    return PosePredictor(graph_backend(function, joint_set))


def keras_predictor(model, joint_set, flip_test, crop_convention):
    """A `PosePredictor` running a Keras model in the export's graph."""
    import tensorflow as tf

    from keras_hourglass.serving.signatures import build_export_metadata
    from keras_hourglass.serving.signatures import make_keypoints_function

    metadata = build_export_metadata(model, joint_set, flip_test, crop_convention)
    # reduce_retracing: batches of different sizes share one trace.
    function = tf.function(
        make_keypoints_function(model, metadata), reduce_retracing=True
    )
    return PosePredictor(graph_backend(function, joint_set))


def predict_poses(model, images, boxes=None, joint_set=None, flip_test=True,
                  batch_size=8):  # fmt: skip
    """Loads `model` (`load_predictor`) and predicts `images`
    (`PosePredictor.__call__`) in one call: `Poses`, or a list of them for a
    list of images. Load once with `load_predictor` to predict many times."""
    predictor = load_predictor(model, joint_set=joint_set, flip_test=flip_test)
    return predictor(images, boxes=boxes, batch_size=batch_size)
