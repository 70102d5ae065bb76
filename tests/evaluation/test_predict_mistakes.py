"""A newcomer's mistakes with `hourglass-predict`: each is one line naming
the file or flag (exit 2, no traceback), or a counted, reported skip that
does not stop the other images."""

import json
import logging
import socket

import keras
import numpy as np
import pytest
from PIL import Image

from evaluation import predict


def save_image(path, width, height, image_format="PNG"):
    pixels = np.random.default_rng(0).integers(0, 256, (height, width, 3), np.uint8)
    Image.fromarray(pixels).save(path, image_format)
    return path


def run(model, images, out, *flags):
    argv = ["--model", str(model), "--images", *map(str, images), "--out", str(out)]
    return predict.main(argv + list(flags))


def error_lines(caplog):
    return [record.getMessage() for record in caplog.records
            if record.levelno >= logging.ERROR]  # fmt: skip


def summary_line(caplog):
    (line,) = [record.getMessage() for record in caplog.records
               if "images skipped" in record.getMessage()]  # fmt: skip
    return line


def test_a_10x8_png_is_a_counted_skip_beside_a_good_image(
    tiny_model_files, tmp_path, caplog
):
    folder = tmp_path / "photos"
    folder.mkdir()
    save_image(folder / "tiny.png", 10, 8)
    save_image(folder / "person.png", 64, 64)
    caplog.set_level(logging.INFO)
    assert run(tiny_model_files[0], [folder], tmp_path / "out") == 0
    assert "1 images skipped" in summary_line(caplog)
    assert any("tiny.png" in record.getMessage() and "10 x 8" in record.getMessage()
               for record in caplog.records)  # fmt: skip
    keypoints = json.loads((tmp_path / "out" / "keypoints.json").read_text())
    assert [person["image"] for person in keypoints] == [str(folder / "person.png")]


def test_other_image_formats_in_a_folder_are_counted_skips(
    tiny_model_files, tmp_path, caplog
):
    folder = tmp_path / "photos"
    folder.mkdir()
    save_image(folder / "person.png", 64, 64)
    for image_format, suffix in (("BMP", "bmp"), ("WEBP", "webp"), ("TIFF", "tiff")):
        save_image(folder / f"other.{suffix}", 64, 64, image_format)
    caplog.set_level(logging.INFO)
    assert run(tiny_model_files[0], [folder], tmp_path / "out") == 0
    assert "3 images skipped" in summary_line(caplog)
    messages = " ".join(record.getMessage() for record in caplog.records)
    for suffix in ("bmp", "webp", "tiff"):
        assert f"other.{suffix}" in messages


def closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def non_hourglass_model(path):
    inputs = keras.Input((32, 32, 3))
    outputs = keras.layers.Dense(10)(keras.layers.GlobalAveragePooling2D()(inputs))
    keras.Model(inputs, outputs).save(path)
    return path


@pytest.mark.parametrize(
    "mistake, message",
    [
        ("missing", "no such model"),
        ("tflite", "model.tflite"),
        ("dataset.json", "dataset.json"),
        ("several .keras", "exactly one"),
        ("unreachable URL", "not reachable"),
        ("non-hourglass", "not an hourglass"),
    ],
)
def test_model_mistakes_are_one_line(
    mistake, message, tiny_model_files, tmp_path, caplog
):
    save_image(tmp_path / "person.png", 64, 64)
    keras_path = tiny_model_files[0]
    models = tmp_path / "models"
    models.mkdir()
    if mistake == "missing":
        model = models / "nope.keras"
    elif mistake == "tflite":
        model = models / "model.tflite"
        model.write_bytes(b"\x1c\x00\x00\x00TFL3" + bytes(64))
    elif mistake == "dataset.json":
        model = models / "dataset.json"
        model.write_text(json.dumps({"name": "mine", "num_joints": 16}))
    elif mistake == "several .keras":
        model = models
        for name in ("a.keras", "b.keras"):
            (models / name).write_bytes(keras_path.read_bytes())
    elif mistake == "unreachable URL":
        model = f"http://127.0.0.1:{closed_port()}/v1/models/hourglass"
    else:
        model = non_hourglass_model(models / "classifier.keras")
    assert run(model, [tmp_path / "person.png"], tmp_path / "out") == 2
    (line,) = error_lines(caplog)
    assert message in line and "\n" not in line
    assert not (tmp_path / "out" / "keypoints.json").exists()


def test_an_output_folder_that_cannot_be_made_is_the_programs_file_line(
    tiny_model_files, tmp_path, capsys, caplog
):
    from training.programs import run_main

    image = save_image(tmp_path / "person.png", 64, 64)
    out = "/proc/no-such-folder/out"  # the kernel refuses any new folder here
    status = run_main(lambda: run(tiny_model_files[0], [image], out))
    assert status == 2
    errors = [line for line in capsys.readouterr().err.splitlines()
              if line.startswith("error:")]  # fmt: skip
    assert len(errors) == 1 and "/proc/no-such-folder" in errors[0], errors
    assert not error_lines(caplog)


def test_box_with_images_is_refused(tiny_model_files, tmp_path, caplog):
    save_image(tmp_path / "person.png", 64, 64)
    code = run(tiny_model_files[0], [tmp_path / "person.png"], tmp_path / "out",
               "--box", "1,2,30,40")  # fmt: skip
    assert code == 2
    (line,) = error_lines(caplog)
    assert "--box" in line and "--boxes" in line
