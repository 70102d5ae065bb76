"""TF Serving `PredictRequest`s, shared by the gRPC client and the export's
warm-up records (so exporting does not depend on the client)."""

import tensorflow as tf


def build_predict_request(model_name, inputs, signature_name, version=None):
    """Returns a `PredictRequest` whose inputs are `{name: array}` TensorProtos."""
    # Optional dependency (tensorflow-serving-api): only exports with warm-up
    # records and the gRPC client need it.
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    if version is not None:
        request.model_spec.version.value = int(version)
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    return request
