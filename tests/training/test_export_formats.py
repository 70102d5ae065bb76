"""Tests for `hourglass-export --format` and `--quantize`: which files one
command writes, and the one-line errors of flags that cannot run."""

import re

import pytest

from keras_hourglass.saving import load_model
from training import export as export_program


def test_one_command_writes_every_requested_format(tiny_model_files, tmp_path):
    pytest.importorskip("tf2onnx")
    out = tmp_path / "exports"
    code = export_program.main([
        "--model", str(tiny_model_files[0]), "--out", str(out), "--no-warmup",
        "--format", "saved_model,litert", "--format", "onnx",
        "--quantize", "float16",
    ])  # fmt: skip
    assert code == 0
    assert (out / "1" / "saved_model.pb").is_file()
    assert (out / "models.config").is_file()
    litert = load_model(out / "hourglass_heatmaps_float16.tflite")
    assert litert.heatmap_file.metadata["quantization"] == "float16"
    assert (out / "hourglass_heatmaps.onnx").is_file()


def test_the_default_is_the_saved_model_alone(tiny_model_files, tmp_path):
    out = tmp_path / "exports"
    assert export_program.main(
        ["--model", str(tiny_model_files[0]), "--out", str(out), "--no-warmup"]
    ) == 0  # fmt: skip
    assert sorted(path.name for path in out.iterdir()) == [
        "1", "batching_parameters.txt", "models.config",
    ]  # fmt: skip


def test_int8_is_calibrated_on_the_datasets_training_crops(
    tiny_model_files, tiny_shards, tmp_path
):
    out = tmp_path / "exports"
    code = export_program.main([
        "--model", str(tiny_model_files[0]), "--out", str(out), "--format",
        "litert", "--quantize", "int8", "--calibration-data", str(tiny_shards),
        "--calibration-examples", "4",
    ])  # fmt: skip
    assert code == 0
    assert [path.name for path in out.iterdir()] == ["hourglass_heatmaps_int8.tflite"]
    loaded = load_model(out / "hourglass_heatmaps_int8.tflite")
    assert loaded.heatmap_file.metadata["quantization"] == "int8"


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--format", "tflite"], r"--format: tflite is not one of"),
        (["--quantize", "int8"], r"--quantize applies to --format litert only"),
        (["--format", "litert", "--quantize", "int8"], r"needs --calibration-data"),
        (["--quantize", "int4"], r"--quantize: invalid choice"),
    ],
)
def test_flags_that_cannot_run_stop_with_one_line(
    tiny_model_files, tmp_path, capsys, flags, message
):
    argv = ["--model", str(tiny_model_files[0]), "--out", str(tmp_path), *flags]
    with pytest.raises(SystemExit) as stop:
        export_program.main(argv)
    assert stop.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert re.search(message, error), error
    assert not any(tmp_path.iterdir())


def test_missing_calibration_data_is_named(tiny_model_files, tmp_path, caplog):
    code = export_program.main([
        "--model", str(tiny_model_files[0]), "--out", str(tmp_path / "out"),
        "--format", "litert", "--quantize", "int8",
        "--calibration-data", str(tmp_path / "nowhere"),
    ])  # fmt: skip
    assert code == 2
    assert "nowhere" in caplog.text
    assert "Traceback" not in caplog.text


def test_an_existing_heatmap_file_is_kept_unless_overwrite(
    tiny_model_files, tmp_path, caplog
):
    out = tmp_path / "exports"
    out.mkdir()
    users_file = out / "hourglass_heatmaps.tflite"
    users_file.write_bytes(b"the user's own file")
    flags = ["--model", str(tiny_model_files[0]), "--out", str(out), "--no-warmup",
             "--format", "saved_model,litert"]  # fmt: skip
    assert export_program.main(flags) == 2
    assert "hourglass_heatmaps.tflite exists" in caplog.text
    assert "--overwrite" in caplog.text
    # Refused before anything was written: no SavedModel version either.
    assert users_file.read_bytes() == b"the user's own file"
    assert sorted(path.name for path in out.iterdir()) == [users_file.name]
    assert export_program.main([*flags, "--overwrite"]) == 0
    assert load_model(users_file).heatmap_file.metadata["file_format"] == "litert"
