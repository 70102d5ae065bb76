"""Tests for keras_hourglass.serving.export and the exported SavedModel's signatures."""

import json
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from keras_hourglass.data.decode import warp_image
from keras_hourglass.decoding import predict_keypoints
from keras_hourglass.joint_sets import MPII_16
from keras_hourglass.model import build_stacked_hourglass
from keras_hourglass.synthetic.people import generate_person_image
from keras_hourglass.transforms import box_from_person
from keras_hourglass.transforms import crop_box_from_person
from keras_hourglass.transforms import crop_matrix
from tests.serving_helpers import export_tiny_model

SIZE = 64


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(keras model, version dir, loaded SavedModel) of a tiny 2-stack export."""
    model, version_dir = export_tiny_model(tmp_path_factory.mktemp("export") / "hg")
    return model, version_dir, tf.saved_model.load(str(version_dir))


@pytest.fixture(scope="module")
def people():
    """(encoded images, boxes, expected crops, crop matrices) of 4 synthetic
    people, made here so that the parity tests need no data beside the
    checkout. Their images differ in size and aspect, and the last person's
    crop runs off the image's right edge, as real photographs do."""
    encoded, boxes, crops, matrices = [], [], [], []
    for index in range(4):
        pixels, person = generate_person_image(seed=5, index=index)
        data = tf.io.encode_jpeg(pixels, quality=95).numpy()
        center, scale = person["center"], person["scale"]
        # The evaluation's crop: transforms.crop_box_from_person, then crop_matrix.
        matrix = crop_matrix(*crop_box_from_person(center, scale), SIZE)
        image = tf.io.decode_image(data, channels=3)
        encoded.append(data)
        boxes.append(box_from_person(center, scale))
        crops.append(warp_image(image, matrix, SIZE))
        matrices.append(matrix)
    return encoded, np.stack(boxes), tf.stack(crops), tf.stack(matrices)


def test_layout_deployment_files_and_metadata(exported):
    _, version_dir, loaded = exported
    model_dir = version_dir.parent
    assert version_dir.name == "1"
    config = (model_dir / "models.config").read_text()
    assert "name: 'hourglass'" in config and "base_path: '/models/hourglass'" in config
    assert (
        "max_batch_size { value: 8 }"
        in (model_dir / "batching_parameters.txt").read_text()
    )
    metadata = json.loads((version_dir / "assets.extra/metadata.json").read_text())
    assert metadata["joint_names"] == list(MPII_16.joint_names)
    assert metadata["input_size"] == SIZE and metadata["flip_test"] is True
    served = loaded.signatures["metadata"]()
    assert json.loads(served["metadata_json"].numpy()) == metadata
    assert int(served["num_joints"]) == 16
    assert not list(model_dir.glob(".tmp-*"))


def test_serving_default_matches_keras_on_whole_images(exported, people):
    model, _, loaded = exported
    encoded, boxes, crops, matrices = people
    served = loaded.signatures["serving_default"](
        images=tf.constant(encoded), boxes=tf.constant(boxes)
    )
    expected, scores = predict_keypoints(model, crops, matrices, MPII_16.flip_pairs)
    assert served["keypoints"].shape == (4, 16, 2)
    np.testing.assert_allclose(served["keypoints"], expected, atol=1e-3)
    np.testing.assert_allclose(served["scores"], scores, atol=1e-4)


def test_whole_image_signature_equals_zero_boxes(exported, people):
    _, _, loaded = exported
    encoded = tf.constant(people[0][:2])
    whole = loaded.signatures["whole_image"](images=encoded)
    zeros = loaded.signatures["serving_default"](images=encoded, boxes=tf.zeros([2, 4]))
    np.testing.assert_allclose(whole["keypoints"], zeros["keypoints"])


def test_heatmaps_signature_matches_every_stack(exported, people):
    model, _, loaded = exported
    crops = people[2]
    served = loaded.signatures["heatmaps"](images=crops)
    stacks = model(crops, training=False)
    np.testing.assert_allclose(served["heatmaps"], stacks[-1], atol=1e-4)
    np.testing.assert_allclose(served["stack1_heatmaps"], stacks[0], atol=1e-4)


def test_tf1_session_loader_runs_both_signatures(exported, people):
    model, version_dir, _ = exported
    encoded, boxes, crops, matrices = people
    with tf.Graph().as_default() as graph, tf.compat.v1.Session(graph=graph) as sess:
        meta_graph = tf.compat.v1.saved_model.loader.load(
            sess, ["serve"], str(version_dir)
        )
        default = meta_graph.signature_def["serving_default"]
        keypoints = sess.run(
            default.outputs["keypoints"].name,
            {
                default.inputs["images"].name: encoded,
                default.inputs["boxes"].name: boxes,
            },
        )
        heatmaps_def = meta_graph.signature_def["heatmaps"]
        heatmaps = sess.run(
            heatmaps_def.outputs["heatmaps"].name,
            {heatmaps_def.inputs["images"].name: crops.numpy()},
        )
    expected, _ = predict_keypoints(model, crops, matrices, MPII_16.flip_pairs)
    np.testing.assert_allclose(keypoints, expected, atol=1e-3)
    np.testing.assert_allclose(heatmaps, model(crops)[-1], atol=1e-4)


def read_warmup_requests(path):
    """The `PredictionLog` messages of a warm-up file."""
    from tensorflow_serving.apis import prediction_log_pb2

    logs = []
    for record in tf.data.TFRecordDataset(str(path)):
        logs.append(prediction_log_pb2.PredictionLog.FromString(record.numpy()))
    return logs


def test_warmup_records_are_valid_requests_for_the_signatures(exported):
    _, version_dir, loaded = exported
    logs = read_warmup_requests(version_dir / "assets.extra/tf_serving_warmup_requests")
    assert [log.predict_log.request.model_spec.signature_name for log in logs] == [
        "serving_default",
        "heatmaps",
    ]
    for log in logs:
        request = log.predict_log.request
        assert request.model_spec.name == "hourglass"
        signature = loaded.signatures[request.model_spec.signature_name]
        specs = signature.structured_input_signature[1]
        assert set(request.inputs) == set(specs)
        inputs = {name: tf.make_ndarray(p) for name, p in request.inputs.items()}
        for name, spec in specs.items():
            assert tf.as_dtype(request.inputs[name].dtype) == spec.dtype
        outputs = signature(**inputs)
        assert all(np.all(np.isfinite(value)) for value in outputs.values())


@pytest.mark.parametrize(
    "images, boxes, message",
    [
        ([b"this is not an image"], [[0, 0, 0, 0]], r"images\[0\] is not a complete"),
        ([], np.zeros([0, 4]), "empty batch"),
        (["VALID"], [[5000, 10, 50, 50]], r"images\[0\] box .* outside"),
        (["VALID"], [[np.nan, 10, 50, 50]], "not finite"),
        (["VALID", "VALID"], [[0, 0, 0, 0]], "one box per image"),
        (["TRUNCATED"], [[0, 0, 0, 0]], "truncated"),
    ],
)
def test_bad_requests_raise_invalid_argument(exported, people, images, boxes, message):
    _, _, loaded = exported
    jpeg = people[0][0]
    stand_ins = {"VALID": jpeg, "TRUNCATED": jpeg[: len(jpeg) // 2]}
    images = [stand_ins.get(image, image) for image in images]
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        loaded.signatures["serving_default"](
            images=tf.constant(images, tf.string),
            boxes=tf.constant(np.asarray(boxes, np.float32).reshape(-1, 4)),
        )


def test_wrong_dtypes_and_pixel_range_are_rejected(exported):
    _, _, loaded = exported
    with pytest.raises((TypeError, ValueError, tf.errors.InvalidArgumentError)):
        loaded.signatures["serving_default"](
            images=tf.zeros([1]), boxes=tf.zeros([1, 4])
        )
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"\[0, 1\]"):
        loaded.signatures["heatmaps"](images=tf.fill([1, SIZE, SIZE, 3], 200.0))


@pytest.mark.slow
def test_saved_model_cli_show_and_run(exported, tmp_path):
    model, version_dir, _ = exported
    show = subprocess.run(
        ["saved_model_cli", "show", "--dir", str(version_dir), "--all"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    text = show.stdout
    for expected in ("signature_def['serving_default']", "signature_def['heatmaps']",
                     "dtype: DT_STRING", "outputs['keypoints']", "(-1, 16, 2)",
                     "(-1, 64, 64, 3)", "signature_def['metadata']"):  # fmt: skip
        assert expected in text
    crops = np.random.default_rng(0).random([1, SIZE, SIZE, 3], dtype=np.float32)
    np.save(tmp_path / "crops.npy", crops)
    subprocess.run(
        [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli", "run",
         "--dir", str(version_dir), "--tag_set", "serve",
         "--signature_def", "heatmaps", "--inputs", f"images={tmp_path}/crops.npy",
         "--outdir", str(tmp_path / "out")],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    heatmaps = np.load(tmp_path / "out" / "heatmaps.npy")
    np.testing.assert_allclose(heatmaps, model(crops)[-1], atol=1e-4)


@pytest.mark.slow
def test_cli_exports_a_run_directory_with_its_joint_set(tmp_path):
    from training import export as export_cli

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    joint_names = [f"{side}_{part}" for side in "lr" for part in ("hand", "foot")]
    (data_dir / "dataset.json").write_text(
        json.dumps(
            {
                "name": "limbs",
                "num_joints": 4,
                "joint_names": joint_names,
                "flip_pairs": [[0, 2], [1, 3]],
                "skeleton": [[0, 1]],
                "splits": {},
            }
        )  # fmt: skip
    )
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.json").write_text(json.dumps({"data_dir": str(data_dir)}))
    model = build_stacked_hourglass(
        n_stacks=1, n_joints=4, n_features=16, depth=2, input_shape=(64, 64, 3)
    )
    model.save(run_dir / "final.keras")
    out = tmp_path / "exports"
    (out / "4").mkdir(parents=True)  # an older version: the export becomes 5
    assert export_cli.main(["--model", str(run_dir), "--out", str(out)]) == 0
    assert export_cli.main(["--model", str(run_dir / "final.keras"),
                            "--out", str(out), "--version", "5"]) == 2  # fmt: skip
    metadata = json.loads((out / "5/assets.extra/metadata.json").read_text())
    assert metadata["joint_set"] == "limbs"
    assert metadata["flip_pairs"] == [[0, 2], [1, 3]]
    crops = np.random.default_rng(1).random([2, SIZE, SIZE, 3], dtype=np.float32)
    loaded = tf.saved_model.load(str(out / "5"))
    served = loaded.signatures["heatmaps"](images=tf.constant(crops))
    np.testing.assert_allclose(served["heatmaps"], model(crops), atol=1e-4)
    assert set(served) == {"heatmaps", "stack1_heatmaps"}


@pytest.mark.slow
def test_litert_heatmaps_match_the_saved_model(exported, tmp_path):
    from keras_hourglass.serving.heatmap_files import LiteRTHeatmaps
    from keras_hourglass.serving.heatmap_files import export_litert

    model, _, loaded = exported
    path = export_litert(model, tmp_path / "hg.tflite")
    runner = LiteRTHeatmaps(path).runner
    crops = np.random.default_rng(2).random([1, SIZE, SIZE, 3], dtype=np.float32)
    outputs = runner(images=crops)
    served = loaded.signatures["heatmaps"](images=tf.constant(crops))
    np.testing.assert_allclose(outputs["heatmaps"], served["heatmaps"], atol=1e-4)
    np.testing.assert_allclose(outputs["heatmaps"], model(crops)[-1], atol=1e-4)
    np.testing.assert_allclose(outputs["stack1_heatmaps"], model(crops)[0], atol=1e-4)
