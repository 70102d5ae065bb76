"""Test helpers: a tiny exported model and stand-ins for TF Serving.

`tensorflow_model_server` cannot be installed here, so the REST stand-in is a
local `http.server` that decodes the columnar JSON API the way TF Serving
does (`{"b64": ...}` -> string tensor, lists -> the signature input's dtype)
and feeds the loaded SavedModel signature; the gRPC stand-in is an
in-process `PredictionService` that decodes each TensorProto with
`tf.make_ndarray` and feeds the signature.
"""

import base64
import json
import threading
from concurrent import futures
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer

import keras
import numpy as np
import tensorflow as tf

from keras_hourglass.model import build_stacked_hourglass
from keras_hourglass.serving.export import export_saved_model


def tiny_model(n_stacks=2, seed=0):
    """A 64x64-input, depth-1 hourglass with 16 features: exporting and
    loading it costs time in proportion to its layers."""
    keras.utils.set_random_seed(seed)
    return build_stacked_hourglass(
        n_stacks=n_stacks, n_features=16, depth=1, input_shape=(64, 64, 3)
    )


def export_tiny_model(out_dir, model=None, **kwargs):
    """Exports `model` (default: a tiny one) to `out_dir`; returns
    (model, version directory)."""
    model = model or tiny_model()
    return model, export_saved_model(model, out_dir, **kwargs)


def decode_json_value(value, dtype):
    """Turns a JSON input value into an array, as TF Serving's REST API does."""
    if dtype == tf.string:

        def unpack(item):
            if isinstance(item, dict):
                return base64.b64decode(item["b64"])
            if isinstance(item, list):
                return [unpack(element) for element in item]
            return item.encode()

        return tf.constant(unpack(value), tf.string)
    return tf.constant(np.asarray(value), dtype)


def run_signature(signature, inputs):
    """Calls a loaded signature on {name: array}; returns {name: ndarray}."""
    outputs = signature(**inputs)
    return {name: value.numpy() for name, value in outputs.items()}


def model_metadata_answer(loaded, model_name):
    """The `GET /v1/models/NAME/metadata` JSON TF Serving gives for `loaded`
    (signature outputs with their shapes; -1 for unknown sizes)."""

    def tensor_info(spec):
        dims = [{"size": str(-1 if d is None else d)} for d in spec.shape.as_list()]
        return {"dtype": f"DT_{spec.dtype.name.upper()}",
                "tensor_shape": {"dim": dims}}  # fmt: skip

    signatures = {
        name: {"outputs": {k: tensor_info(v) for k, v in fn.structured_outputs.items()}}
        for name, fn in loaded.signatures.items()
    }
    return {
        "model_spec": {"name": model_name},
        "metadata": {"signature_def": {"signature_def": signatures}},
    }


class RestStandIn:
    """A TF Serving REST stand-in for one model, on 127.0.0.1:<free port>."""

    def __init__(self, version_dir, model_name="hourglass"):
        self.loaded = tf.saved_model.load(str(version_dir))
        self.model_name = model_name
        handler = self._make_handler()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self):
        host, port = self.server.server_address
        return f"http://{host}:{port}/v1/models/{self.model_name}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.server.shutdown()
        self.server.server_close()

    def answer(self, path, body):
        """Returns (HTTP status, JSON answer) for a predict request."""
        prefix = f"/v1/models/{self.model_name}"
        if not path.startswith(prefix):
            return 404, {"error": f"Servable not found for request: Latest({path})"}
        request = json.loads(body)
        signature = self.loaded.signatures[
            request.get("signature_name", "serving_default")
        ]
        specs = signature.structured_input_signature[1]
        try:
            inputs = {
                name: decode_json_value(request["inputs"][name], spec.dtype)
                for name, spec in specs.items()
            }
            outputs = run_signature(signature, inputs)
        except (tf.errors.InvalidArgumentError, KeyError, ValueError) as error:
            return 400, {"error": str(error)[:2000]}
        return 200, {"outputs": {k: v.tolist() for k, v in outputs.items()}}

    def _make_handler(self):
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                prefix = f"/v1/models/{stand_in.model_name}"
                if self.path.startswith(prefix) and self.path.endswith("/metadata"):
                    status = 200
                    answer = model_metadata_answer(stand_in.loaded, stand_in.model_name)
                else:
                    status, answer = 404, {"error": f"no such resource: {self.path}"}
                send_json(self, status, answer)

            def do_POST(self):  # noqa: N802 (http.server's naming)
                length = int(self.headers["Content-Length"])
                status, answer = stand_in.answer(self.path, self.rfile.read(length))
                send_json(self, status, answer)

            def log_message(self, *args):
                pass

        return Handler


def send_json(handler, status, answer):
    """Answers an `http.server` request with `answer` as JSON."""
    data = json.dumps(answer).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def predict_response(outputs):
    """A `PredictResponse` holding `{name: array}` as TensorProtos."""
    # Optional dependency (tensorflow-serving-api), as in the library.
    from tensorflow_serving.apis import predict_pb2

    response = predict_pb2.PredictResponse()
    for name, value in outputs.items():
        response.outputs[name].CopyFrom(tf.make_tensor_proto(value))
    return response


def start_grpc_server(servicer, max_workers=2):
    """Serves a `PredictionServiceServicer` on a free local port; returns
    (server, target)."""
    # Optional dependencies (grpcio, tensorflow-serving-api), as in the library.
    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=max_workers))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        servicer, server
    )
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, f"127.0.0.1:{port}"


def grpc_stand_in(version_dir, model_name="hourglass"):
    """Starts an in-process gRPC PredictionService; returns (server, target)."""
    # Optional dependencies (grpcio, tensorflow-serving-api), as in the library.
    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    loaded = tf.saved_model.load(str(version_dir))

    class Servicer(prediction_service_pb2_grpc.PredictionServiceServicer):
        def Predict(self, request, context):  # noqa: N802 (gRPC's naming)
            if request.model_spec.name != model_name:
                context.abort(grpc.StatusCode.NOT_FOUND, "Servable not found")
            signature = loaded.signatures[request.model_spec.signature_name]
            inputs = {
                name: tf.make_ndarray(proto) for name, proto in request.inputs.items()
            }
            try:
                outputs = run_signature(signature, inputs)
            except tf.errors.InvalidArgumentError as error:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, error.message)
            return predict_response(outputs)

    return start_grpc_server(Servicer())
