"""A newcomer's mistakes with the converter and the training program, and the
file-system failures every program meets: one line naming the file or flag,
exit status 2, no traceback (`training.programs.run_main`, which console
scripts and `python -m` both go through)."""

import errno
import json
import shutil

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_hourglass.data import metadata as dataset_metadata
from training import make_tfrecords
from training import train
from training.builders import read_dataset
from training.config import config_from_preset
from training.programs import file_system_problem
from training.programs import run_main


def run_program(main, argv, capsys):
    """(exit status, error lines) of `main(argv)` run as the programs run;
    checks that nothing else on stderr is a traceback."""
    try:
        status = run_main(lambda: main(argv))
    except SystemExit as exit_info:
        status = exit_info.code
    stderr = capsys.readouterr().err
    assert "Traceback" not in stderr, stderr[-3000:]
    return status, [line for line in stderr.splitlines() if "error:" in line]


def synthetic_flags(out):
    return ["--format", "synthetic", "--count", "4", "--val-count", "2",
            "--seed", "0", "--out", str(out)]  # fmt: skip


@pytest.fixture()
def annotation_files(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(images / "a.png")
    files = {
        "text": tmp_path / "notes.txt",
        "png": images / "a.png",
        "csv": tmp_path / "people.csv",
        "json list": tmp_path / "list.json",
    }
    files["text"].write_text("these are my notes\n")
    files["csv"].write_text("image,x,y\na.png,1,2\n")
    files["json list"].write_text(json.dumps([1, 2, 3]))
    return images, files


@pytest.mark.parametrize(
    "image_format, annotations",
    [
        ("mpii", "missing.json"),
        ("csv", "missing.csv"),
        ("coco", "text"),
        ("coco", "json list"),
        ("mpii", "csv"),
        ("mpii", "json list"),
        ("lsp", "text"),
        ("csv", "png"),
    ],
)
def test_missing_or_wrong_format_annotations_are_one_line(
    image_format, annotations, annotation_files, tmp_path, capsys
):
    images, files = annotation_files
    path = files.get(annotations, tmp_path / annotations)
    argv = ["--format", image_format, "--annotations", str(path),
            "--images", str(images), "--out", str(tmp_path / "dataset")]  # fmt: skip
    status, lines = run_program(make_tfrecords.main, argv, capsys)
    assert status == 2
    assert len(lines) == 1, lines
    assert str(path) in lines[0] and "Traceback" not in lines[0]
    assert not (tmp_path / "dataset").exists()


def test_converter_out_under_a_file_is_one_line(tmp_path, capsys):
    a_file = tmp_path / "people.csv"
    a_file.write_text("image,x,y\n")
    status, lines = run_program(
        make_tfrecords.main, synthetic_flags(a_file / "dataset"), capsys
    )
    assert status == 2
    assert len(lines) == 1 and str(a_file) in lines[0], lines
    assert a_file.read_text() == "image,x,y\n"


@pytest.mark.parametrize(
    "failure, message",
    [
        (OSError(errno.ENOSPC, "No space left on device"), "disk is full"),
        (OSError(errno.EDQUOT, "Disk quota exceeded"), "disk is full"),
        (OSError(errno.EROFS, "Read-only file system"), "read-only"),
        (PermissionError(errno.EACCES, "Permission denied"), "read-only"),
    ],
)
def test_full_disk_or_read_only_folder_is_one_line_and_loses_nothing(
    failure, message, tmp_path, capsys, monkeypatch
):
    # Root ignores file modes and the test machine has neither a full nor a
    # read-only disk, so the write of dataset.json fails as the kernel would
    # fail it: the error the kernel gives, raised where the write happens.
    out = tmp_path / "dataset"
    make_tfrecords.main(synthetic_flags(out))
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def failing_write(folder, metadata):
        failure.filename = str(folder / "dataset.json")
        raise failure

    monkeypatch.setattr(dataset_metadata, "write_metadata", failing_write)
    status, lines = run_program(
        make_tfrecords.main, [*synthetic_flags(out), "--overwrite", "--seed", "1"],
        capsys,
    )  # fmt: skip
    assert status == 2
    assert len(lines) == 1 and message in lines[0], lines
    assert "dataset.json" in lines[0]
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".dataset.")
                and not p.name.endswith(".lock")]  # fmt: skip


def test_tensorflow_disk_full_error_is_the_disk_full_line():
    error = tf.errors.ResourceExhaustedError(
        None, None, "/runs/demo/backup/ckpt-1.data; No space left on device"
    )
    assert "disk is full" in file_system_problem(error)
    out_of_memory = tf.errors.ResourceExhaustedError(None, None, "OOM")
    assert file_system_problem(out_of_memory) is None
    assert file_system_problem(ValueError("a bug")) is None


@pytest.fixture()
def data_dir(tiny_shards, tmp_path):
    copy = tmp_path / "data"
    shutil.copytree(tiny_shards, copy)
    return copy


def test_train_run_dir_that_is_a_file_is_one_line(data_dir, tmp_path, capsys):
    a_file = tmp_path / "run"
    a_file.write_text("my notes\n")
    argv = ["--data-dir", str(data_dir), "--run-dir", str(a_file), "--epochs", "1"]
    status, lines = run_program(train.main, argv, capsys)
    assert status == 2
    assert len(lines) == 1 and "--run-dir" in lines[0] and "file" in lines[0], lines
    assert a_file.read_text() == "my notes\n"


def test_train_data_dir_that_is_a_file_says_so(tmp_path, capsys):
    a_file = tmp_path / "dataset.json"
    a_file.write_text("{}")
    argv = ["--data-dir", str(a_file), "--run-dir", str(tmp_path / "run")]
    status, lines = run_program(train.main, argv, capsys)
    assert status == 2
    assert len(lines) == 1 and "not a directory" in lines[0], lines


def mark_as_patches(data_dir, patch_size):
    """Records in `data_dir`'s dataset.json that its training people are
    patches for crops of `patch_size` (as `--train-patch-size` does)."""
    metadata_path = data_dir / "dataset.json"
    metadata = json.loads(metadata_path.read_text())
    metadata["created_with"]["train_patch_size"] = patch_size
    metadata_path.write_text(json.dumps(metadata))


@pytest.mark.parametrize(
    "flags, named",
    [
        (["--input-size", "128", "--output-size", "32"], "--input-size 128"),
        (["--scale-factor", "0.4"], "--scale-factor 0.4"),
    ],
)
def test_training_crops_larger_than_the_stored_patches_are_one_line(
    data_dir, tmp_path, capsys, flags, named
):
    mark_as_patches(data_dir, 64)
    run_dir = tmp_path / "run"
    argv = ["--data-dir", str(data_dir), "--run-dir", str(run_dir), "--epochs", "1",
            "--input-size", "64", "--output-size", "16", *flags]  # fmt: skip
    status, lines = run_program(train.main, argv, capsys)
    assert status == 2
    assert len(lines) == 1, lines
    assert named in lines[0] and "--train-patch-size" in lines[0], lines
    assert not run_dir.exists()


def test_training_crops_the_stored_patches_hold_are_accepted(data_dir):
    mark_as_patches(data_dir, 64)
    for input_size, scale_factor in ((64, 0.25), (32, 0.1)):
        config = config_from_preset(
            "paper", data_dir=str(data_dir), input_size=input_size,
            output_size=input_size // 4, scale_factor=scale_factor,
        )  # fmt: skip
        metadata, train_files, _ = read_dataset(config)
        assert metadata["splits"]["train"]["count"] == 16 and train_files
