"""The network alone as one file for on-device and non-TensorFlow runtimes.

    export_litert(model, "hourglass_heatmaps.tflite")                 # float32
    export_litert(model, "hg_int8.tflite", "int8", calibration_images=crops)
    export_onnx(model, "hourglass_heatmaps.onnx")

Both hold the export's `heatmaps` signature with a dynamic batch; neither
runtime decodes JPEG, so the caller crops and decodes (the predictor does
both). Each file carries the export metadata as JSON named `keras_hourglass`
(the LiteRT `metadata` table, the ONNX `metadata_props`). LiteRT
quantizations: `float32`, `float16` (half the file, computed in float32),
`int8` (calibrated on representative crops; float32 input and output).
"""

import json
import os
import tempfile
import warnings
from pathlib import Path

import keras
import numpy as np

from keras_hourglass.files import write_bytes_atomically
from keras_hourglass.joint_sets import BUILT_IN_JOINT_SETS
from keras_hourglass.joint_sets import builtin_joint_set
from keras_hourglass.model import joint_count
from keras_hourglass.saving import HEATMAP_FILE_SUFFIXES
from keras_hourglass.serving.fold import fold_batch_norms
from keras_hourglass.serving.signatures import build_export_metadata
from keras_hourglass.serving.signatures import crops_spec
from keras_hourglass.serving.signatures import make_heatmaps_function
from keras_hourglass.serving.signatures import write_archive
from keras_hourglass.transforms import OFFICIAL_TORCH

METADATA_NAME = "keras_hourglass"
QUANTIZATIONS = ("float32", "float16", "int8")
LITERT_SUFFIX, ONNX_SUFFIX = HEATMAP_FILE_SUFFIXES
# The ONNX operator set written; onnxruntime 1.16 and later run it.
ONNX_OPSET = 17


def resolve_export_model(model, joint_set, crop_convention, fold_batch_norm,
                         flip_test):  # fmt: skip
    """(Keras model, export metadata) of a `keras.Model` or `LoadedModel`:
    the joint set and crop the file records unless given, else the built-in
    set with the model's joint count and our crop."""
    if hasattr(model, "keras_model"):  # a `saving.LoadedModel`
        if model.keras_model is None:
            raise ValueError(f"{model.source}: an export, not a Keras model")
        crop_convention = crop_convention or model.crop_convention
        joint_set = joint_set or model.joint_set
        model = model.keras_model
    if isinstance(joint_set, str):
        joint_set = BUILT_IN_JOINT_SETS[joint_set]
    if joint_set is None:
        joint_set = builtin_joint_set(joint_count(model))
    if fold_batch_norm:
        model = fold_batch_norms(model)
    crop_convention = crop_convention or OFFICIAL_TORCH
    return model, build_export_metadata(model, joint_set, flip_test, crop_convention)


def prepare_heatmap_file(model, out_path, file_format, quantization="float32",
                         joint_set=None, crop_convention=None,
                         fold_batch_norm=True):  # fmt: skip
    """(out Path, Keras model, metadata) of a "litert" or "onnx" file."""
    out_path = Path(out_path)
    litert = file_format == "litert"
    what, suffix = ("LiteRT", LITERT_SUFFIX) if litert else ("ONNX", ONNX_SUFFIX)
    if out_path.suffix != suffix:
        raise ValueError(f"{out_path}: a {what} file must end in {suffix}")
    # The file holds the bare network; its caller flips.
    model, metadata = resolve_export_model(
        model, joint_set, crop_convention, fold_batch_norm, flip_test=False
    )
    metadata.update(file_format=file_format, quantization=quantization)
    return out_path, model, metadata


def litert_converter(model, input_size, scratch, quantization, calibration_images):
    """A `tf.lite.TFLiteConverter` for `model`'s heatmaps, set up for
    `quantization`. It converts from an `ExportArchive` SavedModel, as Keras'
    own LiteRT export does: a concrete function would keep the weights as
    resource variables the interpreter cannot read."""
    import tensorflow as tf

    if quantization not in QUANTIZATIONS:
        raise ValueError(
            f"quantization must be one of {QUANTIZATIONS}, got {quantization!r}"
        )
    int8 = quantization == "int8"
    if int8 and (calibration_images is None or len(calibration_images) == 0):
        raise ValueError("int8 needs calibration images (representative crops)")
    archive = keras.export.ExportArchive()
    archive.track(model)
    endpoint = make_heatmaps_function(model, check_inputs=False)
    archive.add_endpoint("heatmaps", endpoint, input_signature=[crops_spec(input_size)])
    write_archive(archive, scratch)
    converter = tf.lite.TFLiteConverter.from_saved_model(
        str(scratch), signature_keys=["heatmaps"]
    )
    if quantization != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantization == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if int8:
        crops = np.asarray(calibration_images, np.float32)
        converter.representative_dataset = lambda: ([crop[None]] for crop in crops)
    return converter


def with_litert_metadata(flatbuffer, metadata):
    """The flatbuffer bytes with `metadata` added as `METADATA_NAME`."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(flatbuffer))
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(json.dumps(metadata).encode(), np.uint8)
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name = METADATA_NAME
    entry.buffer = len(model.buffers) - 1
    model.metadata = [*(model.metadata or []), entry]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def export_litert(model, out_path, quantization="float32",
                  calibration_images=None, joint_set=None, crop_convention=None,
                  fold_batch_norm=True):  # fmt: skip
    """Writes `model`'s heatmaps signature as a LiteRT file (`.tflite`);
    returns the Path. int8 is calibrated on `calibration_images` (a few
    hundred training crops in [0, 1]); the other arguments are
    `export_saved_model`'s."""
    out_path, model, metadata = prepare_heatmap_file(
        model, out_path, "litert", quantization, joint_set, crop_convention,
        fold_batch_norm,
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as scratch:
        flatbuffer = litert_converter(
            model, metadata["input_size"], scratch, quantization, calibration_images
        ).convert()
    return write_bytes_atomically(out_path, with_litert_metadata(flatbuffer, metadata))


def export_onnx(model, out_path, joint_set=None, crop_convention=None,
                fold_batch_norm=True):  # fmt: skip
    """Writes `model`'s heatmaps signature as an ONNX file (`.onnx`) with
    tf2onnx, as Keras' own ONNX export does; returns the Path."""
    import tensorflow as tf
    import tf2onnx
    from keras.src.export.tf2onnx_lib import patch_tf2onnx

    out_path, model, metadata = prepare_heatmap_file(
        model, out_path, "onnx", "float32", joint_set, crop_convention,
        fold_batch_norm,
    )  # fmt: skip
    spec = crops_spec(metadata["input_size"])
    endpoint = make_heatmaps_function(model, check_inputs=False)
    function = tf.function(endpoint, input_signature=[spec])
    with warnings.catch_warnings():
        # tf2onnx 1.17 still names NumPy 1 aliases (`np.object`), which Keras'
        # patch restores with a FutureWarning.
        warnings.simplefilter("ignore", FutureWarning)
        patch_tf2onnx()
        proto, _ = tf2onnx.convert.from_function(
            function, input_signature=[spec], opset=ONNX_OPSET
        )
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_NAME, json.dumps(metadata)
    return write_bytes_atomically(out_path, proto.SerializeToString())


def hourglass_metadata(entries, path, file_format):
    """The parsed `METADATA_NAME` entry of a file's metadata."""
    if METADATA_NAME not in entries:
        raise ValueError(f"{path}: not an hourglass {file_format} file (no metadata)")
    return json.loads(entries[METADATA_NAME])


class LiteRTHeatmaps:
    """Runs a `.tflite` heatmap file: `call(images, training=False)` -> list
    of per-stack heatmaps, first stack first (a Keras model's outputs)."""

    def __init__(self, path):
        import tensorflow as tf
        from tensorflow.lite.python import schema_py_generated as schema

        try:
            model = schema.Model.GetRootAs(Path(path).read_bytes(), 0)
            entries = {
                model.Metadata(i).Name().decode(): model.Metadata(i).Buffer()
                for i in range(model.MetadataLength())
            }
        except Exception as error:  # flatbuffers raises bare errors on bad bytes
            raise ValueError(f"{path}: not a LiteRT flatbuffer ({error})") from None
        if METADATA_NAME in entries:
            raw = model.Buffers(entries[METADATA_NAME]).DataAsNumpy()
            entries[METADATA_NAME] = raw.tobytes()
        self.metadata = hourglass_metadata(entries, path, "LiteRT")
        with warnings.catch_warnings():
            # tf.lite.Interpreter warns that it moves to `ai_edge_litert`,
            # which has the same API but is not a dependency.
            warnings.simplefilter("ignore")
            # Every core, as TensorFlow and onnxruntime use; the
            # interpreter's own default leaves the thread count to XNNPACK.
            interpreter = tf.lite.Interpreter(
                model_path=str(path), num_threads=os.cpu_count()
            )
        self.runner = interpreter.get_signature_runner("heatmaps")

    def __call__(self, images, training=False):
        outputs = self.runner(images=np.asarray(images, np.float32))
        return [outputs[name] for name in self.metadata["heatmap_outputs"]]


class OnnxHeatmaps:
    """Runs a `.onnx` heatmap file with onnxruntime (the `onnx` extra), like
    `LiteRTHeatmaps`."""

    def __init__(self, path):
        try:
            import onnxruntime
        except ImportError:
            raise ValueError(
                f"{path}: running ONNX files needs onnxruntime "
                "(pip install 'keras-hourglass[onnx]')"
            ) from None
        try:
            self.runtime = onnxruntime.InferenceSession(
                str(path), providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # onnxruntime's own exception types
            raise ValueError(f"{path}: not a readable ONNX model ({error})") from None
        props = self.runtime.get_modelmeta().custom_metadata_map
        self.metadata = hourglass_metadata(props, path, "ONNX")

    def __call__(self, images, training=False):
        names = self.metadata["heatmap_outputs"]
        feed = {"images": np.asarray(images, np.float32)}
        return self.runtime.run(names, feed)


def load_heatmap_file(path):
    """The runner of a `.tflite` or `.onnx` heatmap file, with its `metadata`."""
    path = Path(path)
    return (LiteRTHeatmaps if path.suffix == LITERT_SUFFIX else OnnxHeatmaps)(path)


def calibration_crops(data_dir, count, input_size, crop_convention=None,
                      split="train"):  # fmt: skip
    """float32 [n, S, S, 3]: the first `count` people of a dataset's `split`
    in the evaluation's crop, for int8 calibration."""
    from keras_hourglass.data.metadata import read_metadata
    from keras_hourglass.data.metadata import split_files
    from keras_hourglass.data.pipeline import make_eval_dataset

    metadata = read_metadata(data_dir)
    try:
        files = split_files(metadata, split)
    except ValueError as error:
        raise ValueError(f"{data_dir}: {error}") from None
    dataset = make_eval_dataset(
        files, metadata["num_joints"], batch_size=count, input_size=input_size,
        crop_convention=crop_convention,
    )  # fmt: skip
    crops = [images.numpy() for images, _ in dataset.take(1)]
    if not crops or len(crops[0]) == 0:
        raise ValueError(f"{data_dir}: no readable person in split {split!r}")
    return crops[0]
