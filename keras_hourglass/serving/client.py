"""Clients for an exported hourglass served by TensorFlow Serving.

REST (port 8501): `POST /v1/models/NAME[/versions/N]:predict` with the
columnar JSON body `{"signature_name": ..., "inputs": {"images": [{"b64":
...}], "boxes": [[x, y, w, h], ...]}}`; TF Serving decodes `{"b64": ...}`
objects into string tensors. gRPC (port 8500): a `PredictRequest` from
`tensorflow-serving-api` sent through `PredictionServiceStub.Predict`.

Both return keypoints [N, K, 2] (original image px) and scores [N, K] as
NumPy arrays, and raise `ServingError` with a clear message for a server that
is down or too slow, an unknown model name, a rejected request or a response
that is not what the signature promises.

    client = RestClient("http://localhost:8501/v1/models/hourglass")
    keypoints, scores = client.predict(["person.jpg"], boxes=[[10, 20, 120, 300]])
"""

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np

DEFAULT_TIMEOUT_SECONDS = 30.0
KEYPOINT_OUTPUTS = ("keypoints", "scores")


class ServingError(RuntimeError):
    """The model server could not be reached or did not answer correctly."""


def read_image_bytes(images):
    """Returns a list of encoded image bytes from bytes or file paths.

    Raises ServingError naming a missing or empty file, or an empty list.
    """
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
    """Returns float32 [count, 4] boxes; None (or a None entry) means the whole
    image, sent as zeros (w <= 0). Raises ServingError on a wrong shape."""
    if boxes is None:
        return np.zeros([count, 4], np.float32)
    rows = [[0.0, 0.0, 0.0, 0.0] if box is None else list(box) for box in boxes]
    array = np.asarray(rows, np.float32)
    if array.shape != (count, 4):
        raise ServingError(
            f"boxes must be {count} x 4 (x, y, w, h), one per image; got {array.shape}"
        )
    return array


def keypoint_arrays(outputs, where):
    """Returns (keypoints float32 [N, K, 2], scores float32 [N, K]) from a
    dict of outputs; raises ServingError when they are missing or malformed."""
    missing = [name for name in KEYPOINT_OUTPUTS if name not in outputs]
    if missing:
        raise ServingError(f"{where}: response lacks outputs {missing}")
    keypoints = np.asarray(outputs["keypoints"], np.float32)
    scores = np.asarray(outputs["scores"], np.float32)
    if keypoints.ndim != 3 or keypoints.shape[-1] != 2:
        raise ServingError(f"{where}: keypoints of shape {keypoints.shape}")
    if scores.shape != keypoints.shape[:2]:
        raise ServingError(
            f"{where}: scores {scores.shape} do not match keypoints {keypoints.shape}"
        )
    return keypoints, scores


def rest_predict_body(images, boxes, signature_name):
    """Returns the columnar JSON body of a TF Serving REST predict request."""
    encoded = read_image_bytes(images)
    inputs = {"images": [{"b64": base64.b64encode(data).decode()} for data in encoded]}
    if signature_name == "serving_default":
        inputs["boxes"] = boxes_array(boxes, len(encoded)).tolist()
    return {"signature_name": signature_name, "inputs": inputs}


def split_model_url(url):
    """Returns (server root "http://host:port", model path "/v1/models/NAME...")
    from a model URL such as http://host:8501/v1/models/NAME[/versions/N]."""
    parsed = urllib.parse.urlsplit(url.rstrip("/"))
    if parsed.scheme not in ("http", "https") or "/v1/models/" not in parsed.path:
        raise ServingError(
            f"{url!r} is not a TF Serving model URL "
            "(expected http://host:8501/v1/models/NAME)"
        )
    return f"{parsed.scheme}://{parsed.netloc}", parsed.path


class RestClient:
    """TF Serving REST client for the exported hourglass signatures.

    Args:
        model_url: str. `http://host:port/v1/models/NAME` (optionally
            `/versions/N`).
        timeout: float. Seconds to wait for a response.
    """

    def __init__(self, model_url, timeout=DEFAULT_TIMEOUT_SECONDS):
        self.server, self.model_path = split_model_url(model_url)
        self.model_url = self.server + self.model_path
        self.timeout = timeout

    def _request(self, url, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            url, data=data, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                text = response.read()
        except urllib.error.HTTPError as error:
            raise ServingError(self._describe_http_error(error)) from None
        except TimeoutError:
            raise ServingError(
                f"{url}: no answer within {self.timeout} s (server overloaded?)"
            ) from None
        except urllib.error.URLError as error:
            raise ServingError(
                f"{self.server}: model server not reachable ({error.reason}); "
                "is tensorflow_model_server running on that port?"
            ) from None
        try:
            return json.loads(text)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ServingError(f"{url}: response is not JSON: {text[:200]!r}") from None

    def _describe_http_error(self, error):
        try:
            message = json.loads(error.read()).get("error", "")
        except (ValueError, AttributeError):
            message = ""
        if error.code == 404:
            return (
                f"{self.model_url}: model not found on the server "
                f"(wrong model name or version?): {message}"
            )
        return (
            f"{self.model_url}: server rejected the request "
            f"(HTTP {error.code}): {message}"
        )

    def status(self):
        """Returns the server's model status JSON (GET /v1/models/NAME)."""
        return self._request(self.model_url)

    def predict_outputs(self, body):
        """Posts a predict body; returns its `outputs` dict of NumPy arrays."""
        answer = self._request(self.model_url + ":predict", body)
        if not isinstance(answer, dict) or "outputs" not in answer:
            raise ServingError(f"{self.model_url}: response has no 'outputs': {answer}")
        outputs = answer["outputs"]
        if not isinstance(outputs, dict):
            raise ServingError(f"{self.model_url}: expected named outputs")
        return {name: np.asarray(value) for name, value in outputs.items()}

    def predict(self, images, boxes=None, signature_name="serving_default"):
        """Returns (keypoints [N, K, 2], scores [N, K]) for encoded images (bytes
        or paths), one optional (x, y, w, h) box per image."""
        body = rest_predict_body(images, boxes, signature_name)
        return keypoint_arrays(self.predict_outputs(body), self.model_url)
