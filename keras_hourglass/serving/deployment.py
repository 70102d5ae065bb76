"""Files TensorFlow Serving reads beside an export.

    MODEL_DIR/models.config                 --model_config_file
    MODEL_DIR/batching_parameters.txt       --batching_parameters_file
    MODEL_DIR/N/assets.extra/tf_serving_warmup_requests
    MODEL_DIR/N/assets.extra/metadata.json  joint names, flip pairs, skeleton

The server replays the warm-up records when it loads version N, so the first
real request does not pay for graph initialisation.
"""

from pathlib import Path

import numpy as np
import tensorflow as tf

from keras_hourglass.files import read_json
from keras_hourglass.files import write_json_atomically
from keras_hourglass.files import write_text_atomically
from keras_hourglass.serving.grpc_client import build_predict_request

WARMUP_FILE_NAME = "tf_serving_warmup_requests"
METADATA_FILE_NAME = "metadata.json"
MODELS_CONFIG_NAME = "models.config"
BATCHING_FILE_NAME = "batching_parameters.txt"
# Where `docker run --mount ...,target=/models/NAME` puts the export.
CONTAINER_MODELS_ROOT = "/models"


def models_config_text(model_name, base_path):
    """Returns a `--model_config_file` (text protobuf) serving one model."""
    return (
        "model_config_list {\n"
        "  config {\n"
        f"    name: '{model_name}'\n"
        f"    base_path: '{base_path}'\n"
        "    model_platform: 'tensorflow'\n"
        "    model_version_policy { latest { num_versions: 1 } }\n"
        "  }\n"
        "}\n"
    )


def batching_parameters_text(
    max_batch_size=8, batch_timeout_micros=5000, num_batch_threads=2
):
    """Returns a `--batching_parameters_file`: requests arriving within
    `batch_timeout_micros` are run as one batch of at most `max_batch_size`."""
    return (
        f"max_batch_size {{ value: {max_batch_size} }}\n"
        f"batch_timeout_micros {{ value: {batch_timeout_micros} }}\n"
        f"num_batch_threads {{ value: {num_batch_threads} }}\n"
        "max_enqueued_batches { value: 100 }\n"
        "pad_variable_length_inputs: false\n"
    )


def write_deployment_files(model_dir, model_name, container_base_path=None):
    """Writes `models.config` and `batching_parameters.txt` into `model_dir`.

    `container_base_path` is the export's path as the server sees it;
    defaults to `/models/<model_name>` (the docker mount target).
    """
    model_dir = Path(model_dir)
    base_path = container_base_path or f"{CONTAINER_MODELS_ROOT}/{model_name}"
    config_path = model_dir / MODELS_CONFIG_NAME
    write_text_atomically(config_path, models_config_text(model_name, base_path))
    batching_path = model_dir / BATCHING_FILE_NAME
    write_text_atomically(batching_path, batching_parameters_text())
    return config_path, batching_path


def warmup_jpeg(side):
    """Returns JPEG bytes of a deterministic side x side colour gradient."""
    ramp = np.linspace(0, 255, side, dtype=np.float32)
    image = np.stack(
        [ramp[None, :].repeat(side, 0), ramp[:, None].repeat(side, 1),
         np.full([side, side], 128.0, np.float32)], axis=-1
    )  # fmt: skip
    return tf.io.encode_jpeg(tf.constant(image.astype(np.uint8))).numpy()


def warmup_requests(model_name, input_size):
    """Returns PredictRequests covering the keypoint and heatmap signatures."""
    image = warmup_jpeg(2 * input_size)
    crops = np.full([1, input_size, input_size, 3], 0.5, np.float32)
    return [
        build_predict_request(
            model_name,
            {
                "images": np.array([image], dtype=object),
                "boxes": np.zeros([1, 4], np.float32),
            },
            "serving_default",
        ),  # fmt: skip
        build_predict_request(model_name, {"images": crops}, "heatmaps"),
    ]


def write_warmup_requests(version_dir, model_name, input_size):
    """Writes the warm-up TFRecord of `PredictionLog`s; returns its path."""
    # Optional dependency (tensorflow-serving-api): only warm-up files use it.
    from tensorflow_serving.apis import prediction_log_pb2

    path = Path(version_dir) / "assets.extra" / WARMUP_FILE_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for request in warmup_requests(model_name, input_size):
            log = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request)
            )
            writer.write(log.SerializeToString())
    return path


def read_warmup_requests(path):
    """Parses a warm-up file into a list of `PredictionLog` messages."""
    # Optional dependency (tensorflow-serving-api), as in write_warmup_requests.
    from tensorflow_serving.apis import prediction_log_pb2

    logs = []
    for record in tf.data.TFRecordDataset(str(path)):
        log = prediction_log_pb2.PredictionLog()
        log.ParseFromString(record.numpy())
        logs.append(log)
    return logs


def write_metadata_file(version_dir, metadata):
    """Writes `assets.extra/metadata.json`; returns its path."""
    path = Path(version_dir) / "assets.extra" / METADATA_FILE_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_json_atomically(path, metadata, sort_keys=True)


def read_export_metadata(version_dir):
    """Returns the metadata dict of an exported version directory.

    Raises FileNotFoundError / ValueError naming the file.
    """
    path = Path(version_dir) / "assets.extra" / METADATA_FILE_NAME
    return read_json(path, what="export metadata")
