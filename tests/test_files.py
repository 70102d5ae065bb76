"""Tests for keras_hourglass.files: atomic writes and JSON files."""

import json

import pytest

from keras_hourglass import files
from keras_hourglass.files import JsonFileError
from keras_hourglass.files import MissingJsonFileError
from keras_hourglass.files import file_sha256
from keras_hourglass.files import read_json
from keras_hourglass.files import write_bytes_atomically
from keras_hourglass.files import write_json_atomically
from keras_hourglass.files import write_text_atomically


def test_writes_replace_the_file_and_leave_no_temporary_file(tmp_path):
    path = tmp_path / "notes.txt"
    write_text_atomically(path, "old\r\n")
    write_text_atomically(path, "new\r\n")
    assert path.read_bytes() == b"new\r\n"
    write_bytes_atomically(path, b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_json_round_trips_with_a_final_newline(tmp_path):
    path = write_json_atomically(tmp_path / "a.json", {"b": [1, 2]}, sort_keys=True)
    assert path.read_text().endswith("}\n")
    assert read_json(path) == {"b": [1, 2]}


def test_a_write_interrupted_before_the_rename_leaves_the_old_file(
    tmp_path, monkeypatch
):
    path = tmp_path / "latest.json"
    write_json_atomically(path, {"checkpoint": "step-1"})

    def crash(source, target):
        raise KeyboardInterrupt("killed before the rename")

    monkeypatch.setattr(files.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        write_json_atomically(path, {"checkpoint": "step-2"})
    assert read_json(path) == {"checkpoint": "step-1"}
    assert [p.name for p in tmp_path.iterdir()] == ["latest.json"]


def test_an_unserialisable_value_leaves_the_old_file(tmp_path):
    path = tmp_path / "results.json"
    write_json_atomically(path, {"mean": 1.0})
    with pytest.raises(TypeError):
        write_json_atomically(path, {"mean": object()})
    assert json.loads(path.read_text()) == {"mean": 1.0}


def test_read_json_names_a_missing_file(tmp_path):
    path = tmp_path / "absent.json"
    with pytest.raises(MissingJsonFileError, match="config file not found.*absent"):
        read_json(path, what="config file")
    with pytest.raises(FileNotFoundError):
        read_json(path)


def test_read_json_names_a_file_that_is_not_json(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    with pytest.raises(JsonFileError, match="dataset metadata .*bad.json is not valid"):
        read_json(path, what="dataset metadata")
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(ValueError, match="bad.json is not valid JSON"):
        read_json(path)


def test_file_sha256_is_the_digest_of_the_bytes(tmp_path):
    path = tmp_path / "x.bin"
    path.write_bytes(b"abc")
    assert file_sha256(path, chunk_bytes=1) == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
