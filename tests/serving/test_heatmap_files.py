"""Tests for keras_hourglass.serving.heatmap_files: each format's heatmaps
against the Keras model it was exported from, the metadata each file
carries, and the predictor and evaluation reading the files."""

import json
import re
from pathlib import Path

import keras
import numpy as np
import pytest

from keras_hourglass import predict_poses
from keras_hourglass.joint_sets import MPII_16
from keras_hourglass.saving import load_model
from keras_hourglass.serving.fold import fold_batch_norms
from keras_hourglass.serving.heatmap_files import export_litert
from keras_hourglass.serving.heatmap_files import export_onnx
from keras_hourglass.synthetic.people import generate_person_image
from keras_hourglass.transforms import box_from_person

SIZE = 64
# Float formats: the largest heatmap difference, relative to the spread of
# the Keras model's heatmaps.
FLOAT_BOUND = 1e-3
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def relative_difference(actual, expected):
    """max |actual - expected| / std(expected)."""
    expected = np.asarray(expected)
    return float(np.abs(np.asarray(actual) - expected).max() / expected.std())


def onnx_available():
    pytest.importorskip("onnxruntime")
    pytest.importorskip("tf2onnx")


@pytest.fixture(scope="module")
def keras_model(tiny_model_files):
    return keras.saving.load_model(tiny_model_files[0])


@pytest.fixture(scope="module")
def crops():
    return np.random.default_rng(3).random([3, SIZE, SIZE, 3], dtype=np.float32)


@pytest.fixture(scope="module")
def files(tmp_path_factory, tiny_model_files):
    """{"float32", "float16", "onnx"}: lazily exported files of the tiny model."""
    folder = tmp_path_factory.mktemp("heatmap_files")
    model = load_model(tiny_model_files[0])
    writers = {
        "float32": lambda: export_litert(model, folder / "hg.tflite"),
        "float16": lambda: export_litert(model, folder / "hg16.tflite", "float16"),
        "onnx": lambda: export_onnx(model, folder / "hg.onnx"),
    }
    written = {}

    def get(name):
        if name not in written:
            written[name] = writers[name]()
        return written[name]

    return get


def assert_every_stack_within(path, reference, crops, bound):
    runner = load_model(path).heatmap_file
    stacks = runner(crops)
    expected = reference(crops)
    assert len(stacks) == len(expected) == 2
    for actual, wanted in zip(stacks, expected):
        assert actual.shape == tuple(wanted.shape)
        assert relative_difference(actual, wanted) < bound


def test_litert_export_hides_the_scratch_savedmodels_info_line(
    tiny_model_files, tmp_path, caplog
):
    # The flatbuffer is converted from a scratch SavedModel whose path the
    # user never sees: TensorFlow's "Assets written to" it is noise.
    with caplog.at_level("INFO"):
        export_litert(load_model(tiny_model_files[0]), tmp_path / "hg.tflite")
    assert "Assets written" not in caplog.text


def test_litert_float32_matches_the_keras_model(files, keras_model, crops):
    assert_every_stack_within(files("float32"), keras_model, crops, FLOAT_BOUND)


def test_onnx_matches_the_keras_model(files, keras_model, crops):
    onnx_available()
    assert_every_stack_within(files("onnx"), keras_model, crops, FLOAT_BOUND)


def test_litert_float16_is_the_model_with_half_precision_weights(
    files, keras_model, crops
):
    # float16 rounds each (folded) weight to 11 significant bits and computes
    # in float32: the file is exactly that model, and the rounding alone
    # moves the tiny untrained model's heatmaps by about 2e-3 of their spread.
    rounded = fold_batch_norms(keras_model)
    rounded.set_weights(
        [w.astype(np.float16).astype(np.float32) for w in rounded.get_weights()]
    )
    path = files("float16")
    assert_every_stack_within(path, rounded, crops, FLOAT_BOUND)
    assert_every_stack_within(path, keras_model, crops, 1e-2)
    assert path.stat().st_size < 0.6 * files("float32").stat().st_size


@pytest.mark.parametrize("kind", ["float32", "onnx"])
def test_files_carry_what_cropping_and_decoding_need(files, tiny_model_files, kind):
    if kind == "onnx":
        onnx_available()
    loaded = load_model(files(kind))
    saved = json.loads((tiny_model_files[2] / "assets.extra/metadata.json").read_text())
    metadata = loaded.heatmap_file.metadata
    assert loaded.input_size == SIZE and loaded.num_joints == 16
    assert loaded.joint_set == MPII_16
    assert loaded.output_names == ("stack1_heatmaps", "stack2_heatmaps")
    assert loaded.keras_model is None and loaded.export is None
    for key in ("input_size", "joint_names", "flip_pairs", "crop_convention",
                "heatmap_outputs", "box_convention"):  # fmt: skip
        assert metadata[key] == saved[key]
    assert metadata["file_format"] == ("onnx" if kind == "onnx" else "litert")
    assert metadata["flip_test"] is False  # the bare network: the caller flips


def test_a_file_without_hourglass_metadata_is_refused(tmp_path):
    fake = tmp_path / "other.tflite"
    fake.write_bytes(b"not a flatbuffer at all")
    with pytest.raises(ValueError, match="other.tflite"):
        load_model(fake)


@pytest.fixture(scope="module")
def people():
    """Encoded synthetic photos and their person boxes."""
    import tensorflow as tf

    images, boxes = [], []
    for index in range(3):
        pixels, person = generate_person_image(seed=8, index=index)
        images.append(tf.io.encode_png(pixels).numpy())
        boxes.append(box_from_person(person["center"], person["scale"]))
    return images, boxes


@pytest.mark.parametrize("kind", ["float32", "onnx"])
def test_predict_poses_reads_the_files_as_the_keras_model(
    files, tiny_model_files, people, kind
):
    if kind == "onnx":
        onnx_available()
    images, boxes = people
    expected = predict_poses(tiny_model_files[0], images, boxes=[[b] for b in boxes])
    actual = predict_poses(files(kind), images, boxes=[[b] for b in boxes])
    for mine, theirs in zip(actual, expected):
        np.testing.assert_allclose(mine.keypoints, theirs.keypoints, atol=1e-2)
        np.testing.assert_allclose(mine.scores, theirs.scores, atol=1e-4)


def serving_doc_litert_snippet():
    """The Python block of docs/serving.md's LiteRT section."""
    text = (PROJECT_ROOT / "docs/serving.md").read_text()
    section = text[text.index("## LiteRT") :]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_serving_doc_litert_snippet_runs_on_a_64_pixel_model(
    files, tmp_path, monkeypatch
):
    folder = tmp_path / "exports/hourglass"
    folder.mkdir(parents=True)
    (folder / "hourglass_heatmaps.tflite").write_bytes(files("float32").read_bytes())
    # As a user runs it: in a namespace of its own, from the folder its
    # relative path starts at.
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(serving_doc_litert_snippet(), namespace)
    assert namespace["heatmaps"].shape == (1, 16, 16, 16)
