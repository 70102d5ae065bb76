"""gRPC client for TF Serving (port 8500) and the `PredictRequest` helpers
the export's warm-up records share; needs `tensorflow-serving-api`.

    client = GrpcClient("localhost:8500", "hourglass")
    keypoints, scores = client.predict(["person.jpg"])
"""

import numpy as np
import tensorflow as tf

from keras_hourglass.serving.client import DEFAULT_TIMEOUT_SECONDS
from keras_hourglass.serving.client import ServingError
from keras_hourglass.serving.client import boxes_array
from keras_hourglass.serving.client import keypoint_arrays
from keras_hourglass.serving.client import read_image_bytes


def build_predict_request(model_name, inputs, signature_name, version=None):
    """A `PredictRequest` of `inputs` {name: array}."""
    from tensorflow_serving.apis import predict_pb2  # optional dependency

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    if version is not None:
        request.model_spec.version.value = int(version)
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    return request


def keypoint_request(model_name, images, boxes=None, version=None):
    """The `serving_default` PredictRequest of images and optional boxes."""
    encoded = read_image_bytes(images)
    inputs = {
        "images": np.array(encoded, dtype=object),
        "boxes": boxes_array(boxes, len(encoded)),
    }
    return build_predict_request(model_name, inputs, "serving_default", version)


GRPC_HINTS = {
    "UNAVAILABLE": "model server not reachable (is it running on that port?)",
    "NOT_FOUND": "model not found on the server (wrong model name or version?)",
    "DEADLINE_EXCEEDED": "no answer before the timeout (server overloaded?)",
    "INVALID_ARGUMENT": "server rejected the request",
}


class GrpcClient:
    """TF Serving gRPC client for the exported hourglass.

    Args:
        target: str. `host:port` of the gRPC endpoint.
        model_name: str. The served model name (`models.config`).
        timeout: float. Seconds for the whole call (a gRPC deadline).
        version: int or None. A fixed model version; None: the latest.
        num_joints: int or None. Checked in every response when given.
    """

    def __init__(
        self,
        target,
        model_name,
        timeout=DEFAULT_TIMEOUT_SECONDS,
        version=None,
        num_joints=None,
    ):
        import grpc  # optional dependencies, as tensorflow_serving
        from tensorflow_serving.apis import prediction_service_pb2_grpc

        self.target, self.model_name = target, model_name
        self.where = f"{target} model {model_name!r}"  # for error messages
        self.timeout, self.version = timeout, version
        self.num_joints = num_joints
        self._grpc = grpc
        self.channel = grpc.insecure_channel(target)
        self.stub = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)

    def send(self, request):
        """Sends a PredictRequest; returns its outputs as NumPy arrays."""
        try:
            response = self.stub.Predict(request, timeout=self.timeout)
        except self._grpc.RpcError as error:
            code = error.code().name if hasattr(error, "code") else "UNKNOWN"
            details = error.details() if hasattr(error, "details") else str(error)
            hint = GRPC_HINTS.get(code, "request failed")
            raise ServingError(f"{self.where}: {hint} [{code}]: {details}") from error
        try:
            return {
                name: tf.make_ndarray(proto) for name, proto in response.outputs.items()
            }
        except (TypeError, ValueError) as error:
            raise ServingError(f"{self.where}: undecodable response") from error

    def predict(self, images, boxes=None):
        """(keypoints [N, K, 2], scores [N, K]), checked as the REST client's."""
        request = keypoint_request(self.model_name, images, boxes, self.version)
        return keypoint_arrays(
            self.send(request),
            self.where,
            expected_rows=len(request.inputs["images"].string_val),
            expected_joints=self.num_joints,
        )

    def close(self):
        """Closes the channel."""
        self.channel.close()
