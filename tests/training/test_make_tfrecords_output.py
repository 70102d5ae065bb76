"""`make_tfrecords` builds the dataset beside `--out` and swaps it in only
after a successful conversion; a failed run never costs the old dataset, and
two converters into one folder cannot mix their files."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from keras_hourglass.data import metadata as dataset_metadata
from keras_hourglass.data.formats.keypoint_csv import read_keypoint_csv
from tests.pipeline_helpers import validate_shards
from training import folder_lock
from training.make_tfrecords import main

REPO_ROOT = Path(__file__).resolve().parents[2]


def synthetic(out, *extra):
    return main(["--format", "synthetic", "--count", "2", "--val-count", "1",
                 "--out", str(out), *extra])  # fmt: skip


def assert_intact_synthetic(out):
    metadata = dataset_metadata.read_metadata(out)
    assert metadata["source"] == "synthetic"
    validate_shards(metadata)


def leftovers(out):
    """Temporary or set-aside folders and lock files left beside `out`."""
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith("."))


def test_failed_overwrite_keeps_the_old_dataset(tmp_path):
    out = tmp_path / "data"
    synthetic(out)
    (out / "README.txt").write_text("my notes")
    with pytest.raises(SystemExit, match="typo.json") as exit_info:
        main(["--format", "mpii", "--annotations", str(tmp_path / "typo.json"),
              "--images", str(tmp_path), "--out", str(out), "--overwrite"])  # fmt: skip
    assert exit_info.value.code == 2
    assert_intact_synthetic(out)
    assert leftovers(out) == []
    metadata = synthetic(out, "--seed", "3", "--overwrite")
    assert metadata["created_with"]["seed"] == 3
    assert_intact_synthetic(out)
    assert (out / "README.txt").read_text() == "my notes"
    assert leftovers(out) == []


def test_coco_without_usable_people_leaves_no_dataset_json(shared_data, tmp_path):
    from tests.data.test_formats import write_coco

    coco = write_coco(tmp_path)
    coco["annotations"] = [coco["annotations"][2]]  # no labelled keypoint
    (tmp_path / "empty.json").write_text(json.dumps(coco))
    out = tmp_path / "coco"
    with pytest.raises(SystemExit, match="no people"):
        main(["--format", "coco", "--annotations", str(tmp_path / "empty.json"),
              "--images", str(shared_data / "lspet_train/images"),
              "--out", str(out)])  # fmt: skip
    assert not (out / dataset_metadata.METADATA_FILE_NAME).exists()
    assert leftovers(out) == []


def test_a_second_converter_into_the_same_folder_is_refused(tmp_path):
    out = tmp_path / "data"
    lock = folder_lock.dataset_lock_path(out)
    # Held for real: flock locks belong to an open file description, so the
    # converter's own open of the file conflicts with this one.
    with folder_lock.lock_dataset_folder(out):
        with pytest.raises(SystemExit, match=f"(?s)pid {os.getpid()}.*{lock.name}"):
            synthetic(out)
        assert not out.exists()
        assert lock.exists()
    assert leftovers(out) == []


def test_a_lock_file_from_another_host_is_not_taken_over(tmp_path):
    out = tmp_path / "data"
    lock = folder_lock.dataset_lock_path(out)
    lock.write_text(json.dumps({"pid": 1, "host": "elsewhere"}))
    with pytest.raises(SystemExit, match=f"(?s)elsewhere.*delete {lock}"):
        synthetic(out)
    assert not out.exists()


def test_a_stale_lock_of_a_dead_converter_is_taken_over(tmp_path, capsys):
    out = tmp_path / "data"
    lock = folder_lock.dataset_lock_path(out)
    dead_pid = 2**22 + 12345  # above pid_max on Linux: never a live process
    # The file a dead converter leaves: its PID, and no flock held on it.
    lock.write_text(json.dumps({"pid": dead_pid, "host": socket.gethostname()}))
    # What `kill -9` during the final swap leaves: half-written work and the
    # old dataset renamed aside.
    (tmp_path / ".data.converting-x1").mkdir()
    (tmp_path / ".data.converting-x1" / "train-00000-of-00001.tfrecord").write_text("")
    synthetic(tmp_path / "old")
    (tmp_path / ".data.old-x2").mkdir()
    (tmp_path / "old").rename(tmp_path / ".data.old-x2" / "dataset")
    with pytest.raises(SystemExit, match="already holds a dataset"):
        synthetic(out)  # the old dataset is back in place, so not replaced
    note = capsys.readouterr().out
    assert "taking over" in note and f"pid {dead_pid}" in note
    assert_intact_synthetic(out)
    assert leftovers(out) == []
    synthetic(out, "--overwrite")
    assert_intact_synthetic(out)
    assert leftovers(out) == []


def test_two_concurrent_converters_leave_one_complete_dataset(tmp_path):
    out = tmp_path / "data"
    outcomes = []

    def convert(seed):
        try:
            synthetic(out, "--seed", str(seed), "--overwrite")
            outcomes.append(("done", seed))
        except SystemExit as error:
            outcomes.append(("refused", str(error)))

    threads = [threading.Thread(target=convert, args=(s,)) for s in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(outcomes) == 2
    assert any(kind == "done" for kind, _ in outcomes)
    for kind, detail in outcomes:
        if kind == "refused":
            assert "another conversion" in detail
    assert_intact_synthetic(out)
    seed = dataset_metadata.read_metadata(out)["created_with"]["seed"]
    assert ("done", seed) in outcomes
    assert leftovers(out) == []


def run_converter(*argv):
    """Runs the converter in its own process; returns the CompletedProcess."""
    return subprocess.run(
        [sys.executable, "-m", "training.make_tfrecords", *argv],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=300,
    )  # fmt: skip


def error_lines(result):
    """The converter's own error lines (TensorFlow's start-up lines aside)."""
    assert "Traceback" not in result.stderr
    return [x for x in result.stderr.splitlines() if x.startswith("error:")]


def tree_bytes(folder):
    """{relative path: bytes} of every file under `folder`."""
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}  # fmt: skip


def test_an_out_naming_an_existing_file_is_refused_untouched(tmp_path):
    csv_path = tmp_path / "people.csv"
    csv_path.write_text("image,a_x,a_y\nim.jpg,1,2\n")
    before = csv_path.read_bytes()
    result = run_converter("--format", "synthetic", "--count", "2",
                           "--val-count", "1", "--out", str(csv_path))  # fmt: skip
    assert result.returncode == 2
    (line,) = error_lines(result)
    assert "--out" in line and str(csv_path) in line
    assert csv_path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["people.csv"]


def test_an_out_folder_that_is_not_a_dataset_is_refused_untouched(tmp_path):
    out = tmp_path / "photos"
    out.mkdir()
    (out / "holiday.jpg").write_bytes(b"not really a photo")
    result = run_converter("--format", "synthetic", "--count", "2",
                           "--val-count", "1", "--out", str(out),
                           "--overwrite")  # fmt: skip
    assert result.returncode == 2
    (line,) = error_lines(result)
    assert "--out" in line and str(out) in line
    assert tree_bytes(out) == {"holiday.jpg": b"not really a photo"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos"]


def test_an_empty_out_folder_is_used(tmp_path):
    out = tmp_path / "data"
    out.mkdir()
    synthetic(out)
    assert_intact_synthetic(out)
    assert leftovers(out) == []


def write_people_csv(path, splits):
    rows = [{"image": "im00001.jpg", "l_paw_x": 10 + i, "l_paw_y": 20,
             "r_paw_x": 30, "r_paw_y": 40, "split": split}
            for i, split in enumerate(splits)]  # fmt: skip
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    "split", ["/../../../../tmp/x", "../x", "a/b", "a\\b", "..", ".hidden", "a b"]
)
def test_a_split_cell_that_is_not_a_plain_name_is_a_counted_skip(
    shared_data, tmp_path, split
):
    csv_path = write_people_csv(tmp_path / "paws.csv", ["train", split])
    images = shared_data / "lspet_train/images"
    records, skip_log, _ = read_keypoint_csv(csv_path, images)
    assert [r.split for r in records] == ["train"]
    ((reason, places),) = skip_log.examples.items()
    assert "split" in reason
    assert places == [f"paws.csv line 3 (im00001.jpg): split {split!r}"]


def test_a_split_path_is_refused_before_the_old_dataset_is_touched(
    shared_data, tmp_path
):
    out = tmp_path / "a" / "data"
    images = str(shared_data / "lspet_train/images")
    good = write_people_csv(tmp_path / "good.csv", ["train", "valid"])
    main(["--format", "csv", "--annotations", str(good), "--images", images,
          "--out", str(out)])  # fmt: skip
    (out / "README.txt").write_text("my notes")
    before = tree_bytes(tmp_path)
    # From the work folder beside `out`, "../../" reaches `tmp_path`.
    hostile = write_people_csv(tmp_path / "hostile.csv", ["../../escaped"] * 2)
    before["hostile.csv"] = hostile.read_bytes()
    with pytest.raises(SystemExit, match="no people"):
        main(["--format", "csv", "--annotations", str(hostile), "--images", images,
              "--out", str(out), "--overwrite"])  # fmt: skip
    assert tree_bytes(tmp_path) == before
    assert leftovers(out) == []


# Runs the converter with the rename that puts the new dataset in place
# wrapped: the wrapper touches a marker file and sleeps, before or after that
# rename, so the test can `kill -9` the converter at exactly that point.
KILLABLE_CONVERTER = """
import os, runpy, sys, time
out, marker, when = sys.argv[1:4]
sys.argv = ["training.make_tfrecords", *sys.argv[4:]]
real_rename = os.rename

def wait_for_the_kill():
    open(marker, "w").close()
    time.sleep(600)

def rename(source, target):
    puts_new_dataset_in_place = (
        os.path.abspath(target) == os.path.abspath(out)
        and ".converting-" in os.fspath(source)
    )
    if puts_new_dataset_in_place and when == "before":
        wait_for_the_kill()
    real_rename(source, target)
    if puts_new_dataset_in_place and when == "after":
        wait_for_the_kill()

os.rename = rename
runpy.run_module("training.make_tfrecords", run_name="__main__")
"""


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_kill_during_the_swap_never_loses_the_users_files(tmp_path, when):
    out = tmp_path / "data"
    synthetic(out)
    (out / "README.txt").write_text("my notes")
    (out / "labels").mkdir()
    (out / "labels" / "extra.csv").write_text("image,x\na.jpg,1\n")
    marker = tmp_path / "marker"
    argv = ["--format", "synthetic", "--count", "2", "--val-count", "1",
            "--seed", "4", "--out", str(out), "--overwrite"]  # fmt: skip
    converter = subprocess.Popen(
        [sys.executable, "-c", KILLABLE_CONVERTER, str(out), str(marker), when,
         *argv],
        cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while not marker.exists():
            assert converter.poll() is None, "the converter ended before the swap"
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        converter.send_signal(signal.SIGKILL)
        converter.wait()
    synthetic(out, "--seed", "5", "--overwrite")
    assert_intact_synthetic(out)
    assert dataset_metadata.read_metadata(out)["created_with"]["seed"] == 5
    assert (out / "README.txt").read_text() == "my notes"
    assert (out / "labels" / "extra.csv").read_text() == "image,x\na.jpg,1\n"
    assert leftovers(out) == []


def test_a_set_aside_folder_holding_user_files_that_cannot_move_is_kept(
    tmp_path, caplog
):
    out = tmp_path / "data"
    synthetic(out)
    (out / "README.txt").write_text("new notes")
    aside = tmp_path / ".data.old-x1"
    (aside / "dataset").mkdir(parents=True)
    (aside / "dataset" / "README.txt").write_text("old notes")
    (aside / "dataset" / "dataset.json").write_text("{}")
    synthetic(out, "--overwrite")
    assert (out / "README.txt").read_text() == "new notes"
    assert (aside / "dataset" / "README.txt").read_text() == "old notes"
    assert f"kept {aside}" in caplog.text


@pytest.mark.parametrize("umask, folder_mode", [(0o022, 0o755), (0o077, 0o700)])
def test_the_dataset_folder_honours_the_umask(tmp_path, umask, folder_mode):
    previous = os.umask(umask)
    try:
        out = tmp_path / "data"
        synthetic(out)
        assert out.stat().st_mode & 0o777 == folder_mode
        synthetic(out, "--seed", "3", "--overwrite")
        assert out.stat().st_mode & 0o777 == folder_mode
        for path in out.iterdir():
            assert path.stat().st_mode & 0o777 == folder_mode & 0o666, path
    finally:
        os.umask(previous)
