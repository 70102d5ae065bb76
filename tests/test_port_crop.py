"""A converted PyTorch-port model crops people the port's way everywhere.

The port (princeton-vl/pytorch_stacked_hourglass, `test.py` with
`utils/img.py` `crop`) feeds its network the square of side 200 * scale px
around the annotated centre, resized to the input size; our own models use
pose-hg-train's shifted, 1.25x larger window. Here a generated image holds the
fixture's 64 x 64 test image (tests/fixtures) at a known place, and a person
whose port window is exactly that patch. The port's keypoints are computed
below with small NumPy stand-ins for its crop and decoding, from the heatmaps
PyTorch itself stored, or from the converted model where PyTorch stored none
(tests/test_weights.py shows the two agree). The predictor, the exported
`serving_default` and the evaluation crop of the converted model must give
those keypoints.
"""

import numpy as np
import pytest
import tensorflow as tf

from keras_hourglass.predictor import load_predictor
from keras_hourglass.transforms import OFFICIAL_TORCH
from keras_hourglass.transforms import PYTORCH_PORT
from keras_hourglass.transforms import box_from_person
from tests.conftest import PROJECT_ROOT

FIXTURES = PROJECT_ROOT / "tests" / "fixtures"
INPUT_SIZE = 64
HEATMAP_SIZE = 16
MPII_FLIPPED_ORDER = [5, 4, 3, 2, 1, 0, 6, 7, 8, 9, 15, 14, 13, 12, 11, 10]
# The fixture image's top-left pixel in the generated image.
PATCH_LEFT, PATCH_TOP = 70, 40


def read_npz(path):
    with np.load(path) as arrays:
        return {name: arrays[name] for name in arrays.files}


@pytest.fixture(scope="module")
def torch_outputs():
    return read_npz(FIXTURES / "torch_port_heatmaps.npz")


@pytest.fixture(scope="module")
def converted_file(tmp_path_factory):
    """The fixture checkpoint converted by the program, sidecar and all."""
    from training.convert_weights import main

    out = tmp_path_factory.mktemp("converted") / "hourglass2_fixture.keras"
    arguments = ["--checkpoint", str(FIXTURES / "torch_port_state_dict.npz")]
    assert main(arguments + ["--out", str(out), "--input-size", "64"]) == 0
    return out


@pytest.fixture(scope="module")
def scene(torch_outputs):
    """(image uint8 [150, 220, 3], centre, scale): the fixture's first image
    pasted on noise, and the person whose port window is that patch."""
    rng = np.random.default_rng(14)
    image = rng.integers(0, 256, [150, 220, 3], dtype=np.uint8)
    patch = torch_outputs["images"][0]
    image[PATCH_TOP : PATCH_TOP + 64, PATCH_LEFT : PATCH_LEFT + 64] = patch
    # Pixel centres at integers: the patch spans [69.5, 133.5] x [39.5, 103.5].
    center = np.array([PATCH_LEFT + 31.5, PATCH_TOP + 31.5])
    return image, center, INPUT_SIZE / 200.0


# === The port, in NumPy ===


def port_crop(image, center, scale, size):
    """The port's input: the 200 * scale px square around `center`, zero
    outside the image, resized to `size` (an integer factor k: the mean of
    each k x k block, which is what bilinear resizing by 1/2 or 1 gives)."""
    side = int(round(200.0 * scale))
    factor = side // size
    assert factor * size == side, "the stand-in only resizes by whole factors"
    # Window edge cx - side / 2 -> first pixel index (pixel i spans i +- 0.5).
    left = int(round(center[0] - side / 2.0 + 0.5))
    top = int(round(center[1] - side / 2.0 + 0.5))
    window = np.zeros([side, side, 3], np.float64)
    rows = slice(max(top, 0), min(top + side, image.shape[0]))
    cols = slice(max(left, 0), min(left + side, image.shape[1]))
    window[rows.start - top : rows.stop - top, cols.start - left : cols.stop - left] = (
        image[rows, cols]
    )
    blocks = window.reshape(size, factor, size, factor, 3).mean(axis=(1, 3))
    return blocks / 255.0


def port_flip_average(heatmaps, mirrored_heatmaps):
    """test.py's flip test on [h, w, K] heatmaps of a crop and its mirror."""
    return (heatmaps + mirrored_heatmaps[:, ::-1, MPII_FLIPPED_ORDER]) / 2.0


def port_decode(heatmaps, center, scale):
    """The port's keypoints for [h, w, K] heatmaps of the window around
    `center`: the peak, a quarter pixel toward the larger neighbour (the edge
    pixel counts as its own missing neighbour), the cell centre, scaled back
    to the window. Returns (keypoints [K, 2], scores [K], peak on the edge [K])."""
    size = heatmaps.shape[0]
    side = 200.0 * scale
    keypoints, scores, on_edge = [], [], []
    for joint in range(heatmaps.shape[-1]):
        plane = heatmaps[..., joint]
        row, col = np.unravel_index(np.argmax(plane), plane.shape)
        right, left = plane[row, min(col + 1, size - 1)], plane[row, max(col - 1, 0)]
        below, above = plane[min(row + 1, size - 1), col], plane[max(row - 1, 0), col]
        x = col + 0.5 + (0.25 if right > left else -0.25)
        y = row + 0.5 + (0.25 if below > above else -0.25)
        window_corner = np.asarray(center) - side / 2.0
        keypoints.append(window_corner + np.array([x, y]) * side / size)
        scores.append(plane[row, col])
        on_edge.append(min(row, col) == 0 or max(row, col) == size - 1)
    return np.array(keypoints), np.array(scores), np.array(on_edge)


def assert_port_keypoints(keypoints, expected, on_edge, scale):
    """Equal up to float precision; a peak on the heatmap edge may differ by
    the quarter step, which the official decoder (ours) leaves out there."""
    quarter_step = 0.25 * 200.0 * scale / HEATMAP_SIZE
    error = np.abs(np.asarray(keypoints) - expected).max(axis=-1)
    assert (error[~on_edge] < 0.02).all(), error
    assert (error < quarter_step + 0.02).all(), error


@pytest.fixture(scope="module")
def port_without_flip(torch_outputs, scene):
    """The port's keypoints from the heatmaps PyTorch stored for the patch."""
    _, center, scale = scene
    heatmaps = np.transpose(torch_outputs["heatmaps"][0, -1], (1, 2, 0))
    return port_decode(heatmaps, center, scale)


# === Tests ===


def test_the_stand_in_crop_is_the_patch_pytorch_saw(scene, torch_outputs):
    image, center, scale = scene
    crop = port_crop(image, center, scale, INPUT_SIZE)
    np.testing.assert_array_equal(crop * 255.0, torch_outputs["images"][0])


def test_the_converter_records_the_port_crop(converted_file):
    from keras_hourglass.saving import load_model

    assert load_model(converted_file).crop_convention == PYTORCH_PORT


def test_a_broken_sidecar_is_named_and_a_missing_one_means_our_crop(tmp_path):
    from keras_hourglass.saving import load_model
    from tests.serving_helpers import tiny_model

    model_file = tmp_path / "model.keras"
    tiny_model(n_stacks=1).save(model_file)
    assert load_model(model_file).crop_convention == OFFICIAL_TORCH
    (tmp_path / "model.json").write_text("{not json")
    message = "the model's sidecar .*model.json is not valid JSON"
    with pytest.raises(ValueError, match=message):
        load_model(model_file)


def test_predictor_gives_the_port_keypoints(converted_file, scene, port_without_flip):
    image, center, scale = scene
    box = box_from_person(center, scale)
    poses = load_predictor(converted_file, flip_test=False)(image, boxes=box)
    expected, scores, on_edge = port_without_flip
    assert_port_keypoints(poses.keypoints[0], expected, on_edge, scale)
    np.testing.assert_allclose(poses.scores[0], scores, atol=2e-2 * scores.max())
    # Our own crop of the same box sees another window: the test can fail.
    ours = load_predictor(
        converted_file, flip_test=False, crop_convention=OFFICIAL_TORCH
    )
    assert np.abs(ours(image, boxes=box).keypoints[0] - expected).max() > 5.0


def test_predictor_flip_test_gives_the_port_keypoints(converted_file, scene):
    """The port's test.py averages with the mirrored crop; here on a window
    twice the input size (the stand-in halves it)."""
    import keras

    image, center, _ = scene
    scale = 2 * INPUT_SIZE / 200.0
    model = keras.saving.load_model(converted_file, compile=False)
    crop = port_crop(image, center, scale, INPUT_SIZE).astype(np.float32)
    both = model(np.stack([crop, crop[:, ::-1]]), training=False)[-1].numpy()
    expected, _, on_edge = port_decode(
        port_flip_average(both[0], both[1]), center, scale
    )
    poses = load_predictor(converted_file)(image, boxes=box_from_person(center, scale))
    assert_port_keypoints(poses.keypoints[0], expected, on_edge, scale)


def test_export_serves_the_port_keypoints(
    converted_file, scene, port_without_flip, tmp_path
):
    from evaluation.evaluation_loop import load_heatmap_model
    from keras_hourglass.files import read_json
    from keras_hourglass.serving.export import export_saved_model

    image, center, scale = scene
    version_dir = export_saved_model(
        converted_file, tmp_path / "hg", flip_test=False, warmup=False
    )
    metadata = read_json(version_dir / "assets.extra/metadata.json")
    assert metadata["crop_convention"] == PYTORCH_PORT.to_metadata()
    # Evaluating the export crops for its `heatmaps` signature the same way.
    assert load_heatmap_model(version_dir).crop_convention == PYTORCH_PORT
    poses = load_predictor(version_dir)(image, boxes=box_from_person(center, scale))
    expected, _, on_edge = port_without_flip
    assert_port_keypoints(poses.keypoints[0], expected, on_edge, scale)


def test_evaluation_crops_and_decodes_like_the_port(
    converted_file, scene, port_without_flip, tmp_path
):
    from evaluation.evaluate import build_eval_dataset
    from evaluation.evaluation_loop import collect_predictions
    from evaluation.evaluation_loop import load_heatmap_model
    from evaluation.evaluation_loop import model_heatmap_source
    from keras_hourglass.data.tfrecords import serialize_person
    from tests.pipeline_helpers import write_shard

    image, center, scale = scene
    record = serialize_person(
        image_bytes=tf.io.encode_png(image).numpy(), image_format="png",
        height=image.shape[0], width=image.shape[1], image_id="scene",
        joints=np.full([16, 2], 100.0), annotated=np.ones(16),
        visible=np.ones(16), center=center, scale=scale,
    )  # fmt: skip
    write_shard(tmp_path / "valid.tfrecord", [record])
    metadata = {
        "directory": str(tmp_path),
        "num_joints": 16,
        "splits": {"valid": {"files": ["valid.tfrecord"], "count": 1}},
    }
    model = load_heatmap_model(converted_file)
    assert model.crop_convention == PYTORCH_PORT
    dataset, _, _ = build_eval_dataset(
        metadata, "valid", model.input_size, 1, crop_convention=model.crop_convention
    )
    images, _ = next(iter(dataset))
    # The evaluation crop is the port's input, up to the uint8 warp's rounding.
    difference = images[0].numpy() - port_crop(image, center, scale, INPUT_SIZE)
    assert np.abs(difference).max() <= (1.0 + 1e-4) / 255.0
    run = collect_predictions(dataset, model_heatmap_source(model.call, [], False))
    expected, _, on_edge = port_without_flip
    assert_port_keypoints(run.keypoints[-1, 0], expected, on_edge, scale)
