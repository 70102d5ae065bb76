"""Clients for an exported hourglass served by TensorFlow Serving: REST
(port 8501, the columnar JSON body) here, gRPC (port 8500) in `grpc_client`.

    client = RestClient("http://localhost:8501/v1/models/hourglass")
    keypoints, scores = client.predict(["person.jpg"], boxes=[[10, 20, 120, 300]])

Both return NumPy keypoints [N, K, 2] (original image px) and scores [N, K],
and raise `ServingError` (the cause chained) for a server that is down or
too slow, an unknown model, a rejected request or an answer that is not
what the signature promises (one row per image, the model's K joints, finite
numbers). A total deadline per request cuts off a server trickling its
answer, and `max_response_bytes` one sending gigabytes.
"""

import base64
import http.client
import json
import socket
import threading
import urllib.parse
from pathlib import Path

import numpy as np

DEFAULT_TIMEOUT_SECONDS = 30.0
# Keypoints take a few KB per image: room for very large batches.
DEFAULT_MAX_RESPONSE_BYTES = 256 * 2**20
READ_CHUNK_BYTES = 2**20
KEYPOINT_OUTPUTS = ("keypoints", "scores")


class ServingError(RuntimeError):
    """The model server could not be reached or did not answer correctly."""


def read_image_bytes(images):
    """A list of encoded image bytes from bytes or file paths; ServingError
    naming a missing or empty file, or for an empty list."""
    if isinstance(images, bytes | str | Path):
        images = [images]
    encoded = []
    for image in images:
        if isinstance(image, bytes):
            encoded.append(image)
            continue
        path = Path(image)
        if not path.is_file():
            raise ServingError(f"{path}: image file not found")
        data = path.read_bytes()
        if not data:
            raise ServingError(f"{path}: image file is empty")
        encoded.append(data)
    if not encoded:
        raise ServingError("no image to send (empty batch)")
    return encoded


def boxes_array(boxes, count):
    """float32 [count, 4] boxes; None (or a None entry), the whole image, is
    sent as zeros (w <= 0)."""
    if boxes is None:
        return np.zeros([count, 4], np.float32)
    rows = [[0.0, 0.0, 0.0, 0.0] if box is None else list(box) for box in boxes]
    array = np.asarray(rows, np.float32)
    if array.shape != (count, 4):
        raise ServingError(
            f"boxes must be {count} x 4 (x, y, w, h), one per image; got {array.shape}"
        )
    return array


def keypoint_arrays(outputs, where, expected_rows=None, expected_joints=None):
    """(keypoints [N, K, 2], scores [N, K]) float32 from a dict of outputs,
    checked: present, finite, `expected_rows` rows and `expected_joints`
    joints (when given); else ServingError."""
    missing = [name for name in KEYPOINT_OUTPUTS if name not in outputs]
    if missing:
        raise ServingError(f"{where}: response lacks outputs {missing}")
    arrays = []
    for name in KEYPOINT_OUTPUTS:
        try:
            arrays.append(np.asarray(outputs[name], np.float32))
        except (TypeError, ValueError) as error:
            message = f"{where}: output {name!r} is not a numeric array"
            raise ServingError(message) from error
    keypoints, scores = arrays
    if keypoints.ndim != 3 or keypoints.shape[-1] != 2:
        raise ServingError(f"{where}: keypoints of shape {keypoints.shape}")
    if scores.shape != keypoints.shape[:2]:
        raise ServingError(
            f"{where}: scores {scores.shape} do not match keypoints {keypoints.shape}"
        )
    rows, joints = keypoints.shape[:2]
    if expected_rows is not None and rows != expected_rows:
        raise ServingError(f"{where}: {rows} rows for {expected_rows} images")
    if expected_joints is not None and joints != expected_joints:
        raise ServingError(
            f"{where}: {joints} joints per person; the model has {expected_joints}"
        )
    if not (np.all(np.isfinite(keypoints)) and np.all(np.isfinite(scores))):
        raise ServingError(f"{where}: keypoints or scores are not finite")
    return keypoints, scores


def rest_predict_body(images, boxes):
    """The columnar JSON body of a REST `serving_default` predict request."""
    encoded = read_image_bytes(images)
    return {
        "signature_name": "serving_default",
        "inputs": {
            "images": [{"b64": base64.b64encode(data).decode()} for data in encoded],
            "boxes": boxes_array(boxes, len(encoded)).tolist(),
        },
    }


class RestClient:
    """TF Serving REST client for the exported hourglass signatures.

    Args:
        model_url: str. `http://host:port/v1/models/NAME[/versions/N]`.
        timeout: float. Total seconds per request (connect, send, receive).
        num_joints: int or None. The model's joint count; None: read once from
            the server's model metadata.
        max_response_bytes: int. Largest answer read. Defaults to 256 MiB.
    """

    def __init__(
        self,
        model_url,
        timeout=DEFAULT_TIMEOUT_SECONDS,
        num_joints=None,
        max_response_bytes=DEFAULT_MAX_RESPONSE_BYTES,
    ):
        parsed = urllib.parse.urlsplit(model_url.rstrip("/"))
        if parsed.scheme not in ("http", "https") or "/v1/models/" not in parsed.path:
            raise ServingError(
                f"{model_url!r} is not a TF Serving model URL "
                "(expected http://host:8501/v1/models/NAME)"
            )
        self.server = f"{parsed.scheme}://{parsed.netloc}"
        self.netloc, self.https = parsed.netloc, parsed.scheme == "https"
        self.model_url = self.server + parsed.path
        self.timeout = timeout
        self.num_joints = num_joints
        self.max_response_bytes = max_response_bytes

    def _read_capped(self, response, path):
        """The response body, refused before more than `max_response_bytes`
        is read."""
        too_large = ServingError(
            f"{self.server}{path}: response larger than {self.max_response_bytes} "
            "bytes (max_response_bytes); refused without reading it all"
        )
        declared = response.getheader("Content-Length")
        if declared is not None and declared.isdigit():
            if int(declared) > self.max_response_bytes:
                raise too_large
        chunks, size = [], 0
        while chunk := response.read(
            min(READ_CHUNK_BYTES, self.max_response_bytes + 1 - size)
        ):
            chunks.append(chunk)
            size += len(chunk)
            if size > self.max_response_bytes:
                raise too_large
        return b"".join(chunks)

    def _exchange(self, method, path, data):
        """Returns (HTTP status, body bytes); a watchdog closes the socket when
        the total deadline passes, whatever the server is doing."""
        connection = (
            http.client.HTTPSConnection if self.https else http.client.HTTPConnection
        )(self.netloc, timeout=self.timeout)
        expired = threading.Event()

        def cut_off():
            expired.set()
            if connection.sock is not None:
                try:
                    connection.sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        watchdog = threading.Timer(self.timeout, cut_off)
        watchdog.daemon = True
        watchdog.start()
        try:
            connection.request(
                method, path, body=data, headers={"Content-Type": "application/json"}
            )
            response = connection.getresponse()
            status, text = response.status, self._read_capped(response, path)
            if expired.is_set():  # the cut-off socket can read as a clean end
                raise TimeoutError("deadline passed")
            return status, text
        except (OSError, http.client.HTTPException) as error:
            if expired.is_set() or isinstance(error, TimeoutError):
                raise ServingError(
                    f"{self.server}{path}: no complete answer within "
                    f"{self.timeout} s (server overloaded or stalled?)"
                ) from error
            if isinstance(error, ConnectionRefusedError | socket.gaierror):
                raise ServingError(
                    f"{self.server}: model server not reachable ({error}); "
                    "is tensorflow_model_server running on that port?"
                ) from error
            raise ServingError(
                f"{self.server}{path}: connection failed during the request "
                f"({type(error).__name__}: {error})"
            ) from error
        finally:
            watchdog.cancel()
            connection.close()

    def _request(self, url, body=None):
        data = None if body is None else json.dumps(body).encode()
        path = url[len(self.server) :]
        status, text = self._exchange("GET" if body is None else "POST", path, data)
        if status >= 400:
            try:
                message = json.loads(text).get("error", "")
            except (ValueError, RecursionError, AttributeError):
                message = ""
            if status == 404:
                raise ServingError(
                    f"{self.model_url}: model not found on the server "
                    f"(wrong model name or version?): {message}"
                )
            raise ServingError(
                f"{self.model_url}: server rejected the request "
                f"(HTTP {status}): {message}"
            )
        try:
            return json.loads(text)
        except (ValueError, RecursionError) as error:
            # ValueError covers bad JSON, bad UTF-8 and integers too long to
            # convert; RecursionError, nesting too deep for the parser.
            raise ServingError(
                f"{url}: response is not JSON that can be read "
                f"({type(error).__name__}): {text[:200]!r}"
            ) from error

    def model_num_joints(self):
        """The model's joint count (cached), from TF Serving's model metadata."""
        if self.num_joints is None:
            metadata = self._request(self.model_url + "/metadata")
            try:
                signatures = metadata["metadata"]["signature_def"]["signature_def"]
                outputs = signatures["serving_default"]["outputs"]
                self.num_joints = int(
                    outputs["keypoints"]["tensor_shape"]["dim"][1]["size"]
                )
            except (KeyError, IndexError, TypeError, ValueError) as error:
                raise ServingError(
                    f"{self.model_url}: model metadata does not describe a "
                    "`keypoints` output of shape [N, K, 2]; pass num_joints"
                ) from error
        return self.num_joints

    def predict(self, images, boxes=None):
        """(keypoints [N, K, 2], scores [N, K]) of images (bytes or paths),
        one optional (x, y, w, h) box per image."""
        body = rest_predict_body(images, boxes)
        num_joints = self.model_num_joints()
        answer = self._request(self.model_url + ":predict", body)
        if not isinstance(answer, dict) or "outputs" not in answer:
            raise ServingError(
                f"{self.model_url}: response has no 'outputs': {str(answer)[:200]}"
            )
        if not isinstance(answer["outputs"], dict):
            raise ServingError(f"{self.model_url}: expected named outputs")
        return keypoint_arrays(
            answer["outputs"],
            self.model_url,
            expected_rows=len(body["inputs"]["images"]),
            expected_joints=num_joints,
        )
