"""Tests for keras_hourglass.serving.client (REST) and client_grpc against local
stand-ins that feed the exported signatures (see tests/serving_helpers.py)."""

import socket

import numpy as np
import pytest
import tensorflow as tf

from keras_hourglass.serving.client import RestClient
from keras_hourglass.serving.client import ServingError
from keras_hourglass.serving.client import rest_predict_body
from keras_hourglass.serving.grpc_client import GrpcClient
from keras_hourglass.serving.grpc_client import keypoint_request
from tests.serving_helpers import RestStandIn
from tests.serving_helpers import grpc_stand_in

IMAGES = ("052475643.jpg", "015601864.jpg")
BOXES = [[250.0, 80.0, 150.0, 350.0], None]


@pytest.fixture(scope="module")
def served(tiny_model_files, shared_data):
    """(version dir, loaded SavedModel, image paths) of a tiny export."""
    _, _, version_dir = tiny_model_files
    paths = [shared_data / "mpii_samples" / name for name in IMAGES]
    return version_dir, tf.saved_model.load(str(version_dir)), paths


def direct_prediction(loaded, paths, boxes):
    outputs = loaded.signatures["serving_default"](
        images=tf.constant([path.read_bytes() for path in paths]),
        boxes=tf.constant([box or [0, 0, 0, 0] for box in boxes], tf.float32),
    )
    return outputs["keypoints"].numpy(), outputs["scores"].numpy()


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_rest_body_follows_the_tf_serving_json_api(served):
    _, _, paths = served
    body = rest_predict_body(paths, BOXES)
    assert body["signature_name"] == "serving_default"
    assert set(body["inputs"]) == {"images", "boxes"}
    assert set(body["inputs"]["images"][0]) == {"b64"}
    assert body["inputs"]["boxes"][1] == [0.0, 0.0, 0.0, 0.0]


def test_rest_predict_equals_the_signature(served):
    _, loaded, paths = served
    with RestStandIn(served[0]) as server:
        keypoints, scores = RestClient(server.url, timeout=30).predict(paths, BOXES)
    expected_keypoints, expected_scores = direct_prediction(loaded, paths, BOXES)
    assert keypoints.shape == (2, 16, 2) and keypoints.dtype == np.float32
    np.testing.assert_allclose(keypoints, expected_keypoints, atol=1e-4)
    np.testing.assert_allclose(scores, expected_scores, atol=1e-6)


def test_rest_errors_are_clear(served, tmp_path):
    version_dir, _, paths = served
    with RestStandIn(version_dir) as server:
        wrong_name = server.url.replace("hourglass", "nobody")
        with pytest.raises(ServingError, match="model not found"):
            RestClient(wrong_name, timeout=10).predict(paths[:1])
        not_an_image = tmp_path / "fake.jpg"
        not_an_image.write_bytes(b"GIF89a not really")
        rejected = r"(?s)rejected .*images\[0\] is not a complete"
        with pytest.raises(ServingError, match=rejected):
            RestClient(server.url, timeout=10).predict([not_an_image])
    down = f"http://127.0.0.1:{free_port()}/v1/models/hourglass"
    with pytest.raises(ServingError, match="not reachable"):
        RestClient(down, timeout=2).predict(paths[:1])
    with pytest.raises(ServingError, match="not a TF Serving model URL"):
        RestClient("localhost:8501")
    with pytest.raises(ServingError, match="image file not found"):
        RestClient(down).predict([tmp_path / "missing.jpg"])
    with pytest.raises(ServingError, match="4"):
        RestClient(down).predict(paths, boxes=[[1, 2, 3]])


def test_grpc_request_decodes_to_the_signature_inputs(served):
    _, loaded, paths = served
    request = keypoint_request("hourglass", paths, BOXES)
    assert request.model_spec.signature_name == "serving_default"
    inputs = {name: tf.make_ndarray(p) for name, p in request.inputs.items()}
    assert inputs["images"][0] == paths[0].read_bytes()
    outputs = loaded.signatures["serving_default"](**inputs)
    np.testing.assert_allclose(
        outputs["keypoints"], direct_prediction(loaded, paths, BOXES)[0], atol=1e-4
    )


def test_grpc_client_through_an_in_process_prediction_service(served):
    version_dir, loaded, paths = served
    server, target = grpc_stand_in(version_dir)
    try:
        client = GrpcClient(target, "hourglass", timeout=30)
        keypoints, scores = client.predict(paths, BOXES)
        expected_keypoints, _ = direct_prediction(loaded, paths, BOXES)
        np.testing.assert_allclose(keypoints, expected_keypoints, atol=1e-4)
        assert scores.shape == (2, 16)
        with pytest.raises(ServingError, match="NOT_FOUND"):
            GrpcClient(target, "nobody", timeout=10).predict(paths[:1])
        with pytest.raises(ServingError, match="INVALID_ARGUMENT"):
            client.predict([b"not an image"])
        client.close()
    finally:
        server.stop(0)
    with pytest.raises(ServingError, match="UNAVAILABLE|DEADLINE"):
        GrpcClient(f"127.0.0.1:{free_port()}", "hourglass", timeout=2).predict(
            paths[:1]
        )
