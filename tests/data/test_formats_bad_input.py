"""Bad annotation files and entries in the dataset readers: one bad entry is a
counted skip naming its line or index; a bad whole file is one clear error
naming the file."""

import json

import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.io

from keras_hourglass.data.formats.coco import read_coco
from keras_hourglass.data.formats.keypoint_csv import read_keypoint_csv
from keras_hourglass.data.formats.lsp import load_lsp_joints
from keras_hourglass.data.formats.lsp import read_lsp
from keras_hourglass.data.formats.mat_files import load_mat_variables
from keras_hourglass.data.formats.mpii import read_mpii
from keras_hourglass.data.formats.people import FAR_OUTSIDE_FRACTION
from keras_hourglass.data.formats.people import PersonRecord
from keras_hourglass.data.formats.people import SkipLog
from keras_hourglass.data.formats.people import make_checked_record
from keras_hourglass.data.image_checks import UnreadableImageError
from keras_hourglass.data.image_checks import inspect_image_bytes
from keras_hourglass.data.tfrecords import serialize_person
from tests.data.test_formats import _mpii_entries
from tests.data.test_formats import write_coco
from tests.pipeline_helpers import synthetic_person

LSP_IMAGES = "lspet_train/images"


def _paw_rows():
    nose = {"nose_x": 50, "nose_y": 60}
    return [
        {"image": "im00001.jpg", "paw_x": "10", "paw_y": "20", **nose},
        {"image": "im00002.jpg", "paw_x": "abc", "paw_y": "20", **nose},
        {"image": "im00003.jpg", "paw_x": "30", "paw_y": "40", **nose},
    ]


def test_csv_non_numeric_cell_is_a_skip_naming_file_and_line(shared_data, tmp_path):
    path = tmp_path / "paws.csv"
    pd.DataFrame(_paw_rows()).to_csv(path, index=False)
    records, skip_log, _ = read_keypoint_csv(path, shared_data / LSP_IMAGES)
    assert [r.image_id for r in records] == ["im00001.jpg", "im00003.jpg"]
    (reason,) = skip_log.counts
    assert skip_log.counts[reason] == 1 and "non-numeric" in reason
    assert skip_log.examples[reason] == ["paws.csv line 3 (im00002.jpg)"]


def test_csv_of_random_bytes_is_one_error_naming_the_file(tmp_path):
    path = tmp_path / "noise.csv"
    path.write_bytes(
        np.random.default_rng(0).integers(0, 256, 4000, np.uint8).tobytes()
    )
    with pytest.raises(ValueError, match="noise.csv"):
        read_keypoint_csv(path)


def test_truncated_json_gz_is_one_error_naming_the_file(shared_data, tmp_path):
    data = (shared_data / "mpii_annotations/mpii_annotations.json.gz").read_bytes()
    path = tmp_path / "cut.json.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="cut.json.gz"):
        read_mpii(path, shared_data / "mpii_samples")


def test_coco_malformed_entries_are_skips_naming_the_index(shared_data, tmp_path):
    images = shared_data / LSP_IMAGES
    coco = write_coco(tmp_path, images=images)
    good = coco["annotations"][0]
    coco["images"].append({"id": 3, "file_name": ["im00003.jpg"], "width": 9})
    coco["images"].append({"id": [4], "file_name": "im00004.jpg"})
    coco["images"].append("not an image entry")
    coco["annotations"] = [
        good,
        {**good, "id": 20, "image_id": 3},
        {**good, "id": 21, "image_id": [1]},
        "not an annotation",
        {**good, "id": 22, "bbox": ["x", 1, 2, 3]},
    ]
    path = tmp_path / "person_keypoints.json"
    path.write_text(json.dumps(coco))
    records, skip_log = read_coco(path, images)
    assert [r.image_id for r in records] == ["im00002.jpg"]
    assert sum(skip_log.counts.values()) == 4 + 3  # 4 annotations, 3 images
    examples = [e for found in skip_log.examples.values() for e in found]
    assert "person_keypoints.json annotation 3" in examples
    assert "person_keypoints.json images[3]" in examples


@pytest.mark.parametrize(
    "categories",
    [["person"], [{"id": 1, "name": "person"}, 7], {"id": 1, "name": "person"}],
)
def test_coco_malformed_categories_are_one_error_naming_the_file(
    shared_data, tmp_path, categories
):
    images = shared_data / LSP_IMAGES
    coco = write_coco(tmp_path, images=images)
    coco["categories"] = categories
    path = tmp_path / "person_keypoints.json"
    path.write_text(json.dumps(coco))
    with pytest.raises(ValueError, match="person_keypoints.json: categories"):
        read_coco(path, images)


def test_mpii_objpos_and_non_finite_values_are_validated(shared_data, tmp_path):
    good = next(
        e for e in _mpii_entries(shared_data) if e["img_paths"] == "015601864.jpg"
    )
    bad_values = [
        ("objpos", [1.0, 2.0, 3.0]),
        ("objpos", []),
        ("objpos", [float("inf"), 3.0]),
        ("scale_provided", float("nan")),
        ("img_width", float("nan")),
        ("joint_self", "text"),
    ]
    entries = [good] + [{**good, key: value} for key, value in bad_values]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(entries))
    records, skip_log = read_mpii(path, shared_data / "mpii_samples")
    assert len(records) == 1
    assert sum(skip_log.counts.values()) == len(bad_values)
    assert any("centre" in reason for reason in skip_log.counts)


def _write_matlab_v73(path, variables):
    """Writes `variables` as MATLAB does with -v7.3: an HDF5 file behind a
    512-byte MAT header, arrays stored transposed (column-major)."""
    with h5py.File(path, "w", userblock_size=512) as file:
        for name, value in variables.items():
            file[name] = np.asarray(value).T
            file[name].attrs["MATLAB_class"] = np.bytes_("double")
    text = (
        b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: test HDF5 schema 1.00 ."
    )
    header = text.ljust(116, b" ") + bytes(8) + b"\x00\x02" + b"IM"
    with open(path, "r+b") as file:
        file.write(header)


def test_lsp_joints_mat_v73_is_read_through_h5py(shared_data, tmp_path):
    joints = scipy.io.loadmat(shared_data / "lspet_train/joints.mat")["joints"]
    joints = joints[:, :, :4]
    v73 = tmp_path / "joints_v73.mat"
    _write_matlab_v73(v73, {"joints": joints})
    with pytest.raises(NotImplementedError):
        scipy.io.loadmat(v73)  # what a v7.3 file does to scipy
    v5 = tmp_path / "joints_v5.mat"
    scipy.io.savemat(v5, {"joints": joints})
    np.testing.assert_array_equal(load_lsp_joints(v73), load_lsp_joints(v5))
    records, skip_log = read_lsp(v73, shared_data / LSP_IMAGES)
    assert len(records) == 4 and not skip_log.counts
    # The one .mat loader, which the evaluation's ground truth readers share.
    np.testing.assert_array_equal(load_mat_variables(v73)["joints"], joints)


def test_lsp_unreadable_mat_names_the_file(tmp_path):
    path = tmp_path / "joints.mat"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(600))
    with pytest.raises(ValueError, match="joints.mat"):
        load_lsp_joints(path)


def corrupt_jpeg_body(jpeg_bytes, seed=0):
    """The same header and end marker around a body overwritten by noise."""
    rng = np.random.default_rng(seed)
    start, stop = len(jpeg_bytes) // 3, 2 * len(jpeg_bytes) // 3
    noise = rng.integers(0, 256, stop - start, np.uint8).tobytes()
    return jpeg_bytes[:start] + noise + jpeg_bytes[stop:]


def test_corrupt_jpeg_body_is_unreadable(shared_data):
    good = (shared_data / LSP_IMAGES / "im00002.jpg").read_bytes()
    assert inspect_image_bytes(good)[0] == "jpeg"
    for seed in range(5):
        with pytest.raises(UnreadableImageError, match="corrupt"):
            inspect_image_bytes(corrupt_jpeg_body(good, seed), "im00002.jpg")


def test_the_converter_refuses_the_records_the_pipeline_would_drop(shared_data):
    """The converter checks every record and image once; the pipeline then
    trusts its shards (tests/data/test_pipeline_bad_input.py counts what
    still reaches it)."""
    person = synthetic_person(16, "checked")
    nan_joints = np.array(person["joints"], np.float64)
    nan_joints[2] = np.nan
    bad_values = [
        ("joints", nan_joints),
        ("center", (float("inf"), 3.0)),
        ("scale", 0.0),
        ("scale", -1.0),
        ("annotated", np.ones(14)),
    ]
    for key, value in bad_values:
        with pytest.raises(ValueError, match="image checked"):
            serialize_person(**{**person, key: value})
    good = (shared_data / LSP_IMAGES / "im00002.jpg").read_bytes()
    for bad, reason in [
        (b"", "empty"),
        (b"hello world" * 20, "not a JPEG or PNG"),
        (good[: len(good) // 2], "truncated"),
    ]:
        with pytest.raises(UnreadableImageError, match=f"im00002.jpg: {reason}"):
            inspect_image_bytes(bad, "im00002.jpg")


def test_far_outside_the_image_is_the_converters_rule():
    """Beyond FAR_OUTSIDE_FRACTION x the image's width (x) or height (y)
    outside its edges, a joint is unset and counted, the rest kept."""
    width, height = 100, 50
    reach_x = 0.5 + FAR_OUTSIDE_FRACTION * width
    reach_y = 0.5 + FAR_OUTSIDE_FRACTION * height
    joints = np.array([
        [-reach_x + 0.1, 10.0], [-reach_x - 0.1, 10.0],
        [width - 1 + reach_x - 0.1, 10.0], [width - 1 + reach_x + 0.1, 10.0],
        [10.0, -reach_y + 0.1], [10.0, -reach_y - 0.1],
        [10.0, height - 1 + reach_y - 0.1], [10.0, height - 1 + reach_y + 0.1],
    ])  # fmt: skip
    record = PersonRecord(
        image_id="far.jpg", split="train", joints=joints, annotated=np.ones(8),
        visible=np.ones(8), center=(50.0, 25.0), scale=1.0,
        image_size=(width, height),
    )  # fmt: skip
    skip_log = SkipLog()
    checked = make_checked_record(record, 8, skip_log, "far.jpg")
    assert checked.annotated.tolist() == [1, 0] * 4
    assert skip_log.warnings == {"joint far outside the image, marked unannotated": 4}


def _person_record(center, scale, image_size=(100, 50)):
    joints = np.array([[10.0, 10.0], [20.0, 30.0]])
    return PersonRecord(
        image_id="p.jpg", split="train", joints=joints, annotated=np.ones(2),
        visible=np.ones(2), center=center, scale=scale, image_size=image_size,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("center", "scale", "reason"),
    [
        ((1e9, 1e9), 1.0, "crop window misses the image"),
        ((-400.0, 25.0), 1.0, "crop window misses the image"),
        ((50.0, 25.0), 1e300, "value too large for float32"),
        ((1e300, 25.0), 1.0, "value too large for float32"),
    ],
)
def test_a_person_whose_crop_misses_the_image_or_overflows_is_a_counted_skip(
    center, scale, reason
):
    skip_log = SkipLog()
    checked = make_checked_record(
        _person_record(center, scale), 2, skip_log, "people.csv line 3"
    )
    assert checked is None
    assert list(skip_log.counts) == [reason]
    assert skip_log.examples[reason] == ["people.csv line 3"]


def test_a_crop_overlapping_the_image_edge_is_kept():
    skip_log = SkipLog()
    record = _person_record((-60.0, 25.0), 1.0)
    assert make_checked_record(record, 2, skip_log, "edge") is not None
    assert not skip_log.counts


@pytest.mark.parametrize(
    ("key", "value"), [("scale", 1e300), ("center", (1e300, 3.0))]
)
def test_the_record_schema_refuses_values_that_overflow_float32(key, value):
    person = synthetic_person(16, "huge")
    with pytest.raises(ValueError, match="image huge.*float32"):
        serialize_person(**{**person, key: value})
