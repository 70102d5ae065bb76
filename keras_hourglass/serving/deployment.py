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

from keras_hourglass.files import write_text_atomically
from keras_hourglass.serving.grpc_client import build_predict_request

WARMUP_FILE_NAME = "tf_serving_warmup_requests"
METADATA_FILE_NAME = "metadata.json"
MODELS_CONFIG_NAME = "models.config"
BATCHING_FILE_NAME = "batching_parameters.txt"
# Where `docker run --mount ...,target=/models/NAME` puts the export.
CONTAINER_MODELS_ROOT = "/models"


def write_deployment_files(model_dir, model_name, container_base_path=None):
    """Writes `models.config` (one model, latest version) and
    `batching_parameters.txt` (requests within 5 ms run as one batch of at
    most 8) into `model_dir`; returns their paths. `container_base_path`
    defaults to the docker mount target, `/models/<model_name>`."""
    model_dir = Path(model_dir)
    base_path = container_base_path or f"{CONTAINER_MODELS_ROOT}/{model_name}"
    config_path = write_text_atomically(
        model_dir / MODELS_CONFIG_NAME,
        "model_config_list {\n"
        "  config {\n"
        f"    name: '{model_name}'\n"
        f"    base_path: '{base_path}'\n"
        "    model_platform: 'tensorflow'\n"
        "    model_version_policy { latest { num_versions: 1 } }\n"
        "  }\n"
        "}\n",
    )
    batching_path = write_text_atomically(
        model_dir / BATCHING_FILE_NAME,
        "max_batch_size { value: 8 }\n"
        "batch_timeout_micros { value: 5000 }\n"
        "num_batch_threads { value: 2 }\n"
        "max_enqueued_batches { value: 100 }\n"
        "pad_variable_length_inputs: false\n",
    )
    return config_path, batching_path


def warmup_jpeg(side):
    """JPEG bytes of a side x side colour gradient."""
    ramp = np.linspace(0, 255, side, dtype=np.float32)
    image = np.stack(
        [ramp[None, :].repeat(side, 0), ramp[:, None].repeat(side, 1),
         np.full([side, side], 128.0, np.float32)], axis=-1
    )  # fmt: skip
    return tf.io.encode_jpeg(tf.constant(image.astype(np.uint8))).numpy()


def write_warmup_requests(version_dir, model_name, input_size):
    """Writes the warm-up `PredictionLog`s (one request for the keypoint
    signature, one for the heatmaps); returns the path."""
    from tensorflow_serving.apis import prediction_log_pb2  # optional dependency

    image = np.array([warmup_jpeg(2 * input_size)], dtype=object)
    crops = np.full([1, input_size, input_size, 3], 0.5, np.float32)
    boxes = np.zeros([1, 4], np.float32)
    requests = [
        build_predict_request(
            model_name, {"images": image, "boxes": boxes}, "serving_default"
        ),
        build_predict_request(model_name, {"images": crops}, "heatmaps"),
    ]
    path = Path(version_dir) / "assets.extra" / WARMUP_FILE_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for request in requests:
            log = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request)
            )
            writer.write(log.SerializeToString())
    return path
