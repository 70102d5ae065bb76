"""The REST and gRPC clients against servers that misbehave: a total deadline
per request, responses checked against the request, and every failure raised
as `ServingError` with its cause."""

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer

import numpy as np
import pytest

from keras_hourglass.serving.client import RestClient
from keras_hourglass.serving.client import ServingError
from keras_hourglass.serving.client import keypoint_arrays
from tests.serving_helpers import predict_response
from tests.serving_helpers import send_json
from tests.serving_helpers import start_grpc_server

NUM_JOINTS = 16
IMAGES = [b"\xff\xd8\xff first", b"\xff\xd8\xff second"]


def model_metadata(num_joints):
    """The GET .../metadata answer of TF Serving for our export's outputs."""
    dims = [{"size": "-1"}, {"size": str(num_joints)}, {"size": "2"}]
    outputs = {"keypoints": {"dtype": "DT_FLOAT", "tensor_shape": {"dim": dims}}}
    signature = {"serving_default": {"outputs": outputs}}
    return {"metadata": {"signature_def": {"signature_def": signature}}}


def good_outputs(rows=2, joints=NUM_JOINTS):
    return {"keypoints": np.ones([rows, joints, 2]).tolist(),
            "scores": np.ones([rows, joints]).tolist()}  # fmt: skip


class CannedServer:
    """Answers every predict with `outputs` and metadata with NUM_JOINTS."""

    def __init__(self, outputs):
        canned = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                send_json(self, 200, model_metadata(NUM_JOINTS))

            def do_POST(self):  # noqa: N802
                self.rfile.read(int(self.headers["Content-Length"]))
                send_json(self, 200, {"outputs": canned.outputs})

            def log_message(self, *args):
                pass

        self.outputs = outputs
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        host, port = self.server.server_address
        return f"http://{host}:{port}/v1/models/hourglass"

    def __exit__(self, *exc_info):
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize(
    "outputs, message",
    [
        (good_outputs(rows=1), "1 rows for 2 images"),
        (good_outputs(joints=3), "3 joints.*16"),
        ({**good_outputs(), "keypoints": np.full([2, 16, 2], np.nan).tolist()},
         "not finite"),
        ({**good_outputs(), "keypoints": "sixteen joints"}, "keypoints"),
        ({**good_outputs(), "scores": [[1.0] * 16, [1.0] * 3]}, "scores"),
        ({"keypoints": [[[1, 2]] * 16] * 2}, "lacks"),
    ],
)  # fmt: skip
def test_rest_responses_are_checked_against_the_request(outputs, message):
    with CannedServer(outputs) as url:
        with pytest.raises(ServingError, match=message):
            RestClient(url, timeout=10).predict(IMAGES)


def test_rest_accepts_a_response_that_matches():
    with CannedServer(good_outputs()) as url:
        keypoints, scores = RestClient(url, timeout=10).predict(IMAGES)
    assert keypoints.shape == (2, NUM_JOINTS, 2) and scores.shape == (2, NUM_JOINTS)


def test_malformed_outputs_keep_their_cause():
    outputs = {"keypoints": [[[1, 2]], [[1, 2], [3]]], "scores": [[1], [1]]}
    with pytest.raises(ServingError) as caught:
        keypoint_arrays(outputs, "server", expected_rows=2)
    assert isinstance(caught.value.__cause__, ValueError)


class TricklingServer:
    """Sends a valid, complete response one byte every `interval` seconds:
    a per-read timeout never fires, only a total deadline stops the client.
    Bounded: the whole response takes about `interval * len(body)` seconds."""

    def __init__(self, interval=0.05):
        self.interval = interval
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.sent_everything = threading.Event()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)

    def serve(self):
        connection, _ = self.listener.accept()
        with connection:
            connection.settimeout(5)
            connection.recv(65536)
            body = json.dumps({"outputs": good_outputs(rows=1, joints=2)}).encode()
            head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            try:
                for byte in head + body:
                    if self.stopped.wait(self.interval):
                        return
                    connection.sendall(bytes([byte]))
                self.sent_everything.set()
            except OSError:
                return  # the client hung up: what the deadline should do

    def __enter__(self):
        self.thread.start()
        host, port = self.listener.getsockname()
        return f"http://{host}:{port}/v1/models/hourglass"

    def __exit__(self, *exc_info):
        self.stopped.set()
        self.thread.join(timeout=10)
        self.listener.close()


def test_rest_deadline_covers_the_whole_request():
    server = TricklingServer()
    with server as url:
        client = RestClient(url, timeout=1.0, num_joints=2)
        with pytest.raises(ServingError, match="within 1.0 s"):
            client.predict(IMAGES[:1])
        hung_up_early = not server.sent_everything.is_set()
    assert hung_up_early


def canned_grpc_server(outputs):
    """An in-process PredictionService answering every call with `outputs`."""
    # Optional dependency (tensorflow-serving-api), as in the library.
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    class Servicer(prediction_service_pb2_grpc.PredictionServiceServicer):
        def Predict(self, request, context):  # noqa: N802
            return predict_response(outputs)

    return start_grpc_server(Servicer(), max_workers=1)


@pytest.mark.parametrize(
    "outputs, message",
    [
        (good_outputs(rows=1), "1 rows for 2 images"),
        (good_outputs(joints=3), "3 joints.*16"),
        ({**good_outputs(), "scores": np.array(["a"] * 32).reshape(2, 16)}, "scores"),
    ],
)
def test_grpc_responses_are_checked_against_the_request(outputs, message):
    from keras_hourglass.serving.grpc_client import GrpcClient

    arrays = {
        name: value if isinstance(value, np.ndarray) else np.asarray(value, np.float32)
        for name, value in outputs.items()
    }
    server, target = canned_grpc_server(arrays)
    try:
        client = GrpcClient(target, "hourglass", timeout=10, num_joints=NUM_JOINTS)
        with pytest.raises(ServingError, match=message):
            client.predict(IMAGES)
        client.close()
    finally:
        server.stop(0)


class RawServer:
    """Answers every request with HTTP 200 and `body` (bytes), with or without
    a Content-Length header."""

    def __init__(self, body, content_length=True):
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                self.rfile.read(int(self.headers["Content-Length"]))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                if content_length:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except OSError:
                    pass  # the client hung up on a response it refuses

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        host, port = self.server.server_address
        return f"http://{host}:{port}/v1/models/hourglass"

    def __exit__(self, *exc_info):
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize(
    "body, message",
    [
        (b"[" * 200_000 + b"]" * 200_000, "not JSON"),
        (b'{"outputs": {"keypoints": ' + b"7" * 5000 + b"}}", "not JSON"),
        (b'{"outputs": ', "not JSON"),
    ],
    ids=["deeply nested", "5000-digit number", "cut short"],
)
def test_rest_parse_failures_are_serving_errors(body, message):
    with RawServer(body) as url:
        client = RestClient(url, timeout=10.0, num_joints=NUM_JOINTS)
        with pytest.raises(ServingError, match=message):
            client.predict(IMAGES)


@pytest.mark.parametrize("content_length", [True, False])
def test_rest_response_size_is_capped(content_length):
    body = json.dumps({"outputs": good_outputs()}).encode()
    with RawServer(body, content_length) as url:
        client = RestClient(url, timeout=10.0, num_joints=NUM_JOINTS,
                            max_response_bytes=len(body) - 1)  # fmt: skip
        with pytest.raises(ServingError, match="larger than"):
            client.predict(IMAGES)
        client = RestClient(url, timeout=10.0, num_joints=NUM_JOINTS,
                            max_response_bytes=len(body))  # fmt: skip
        keypoints, _ = client.predict(IMAGES)
        assert keypoints.shape == (2, NUM_JOINTS, 2)
