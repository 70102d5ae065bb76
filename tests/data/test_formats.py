"""Tests for the dataset readers (keras_hourglass.data.formats*)."""

import gzip
import json
import math

import numpy as np
import pandas as pd
import pytest
import scipy.io
from PIL import Image

from keras_hourglass.data.formats.coco import read_coco
from keras_hourglass.data.formats.keypoint_csv import read_keypoint_csv
from keras_hourglass.data.formats.lsp import read_lsp
from keras_hourglass.data.formats.mpii import read_mpii
from keras_hourglass.data.formats.mpii import read_mpii_head_boxes
from keras_hourglass.data.formats.people import JOINT_BOX_MARGIN
from keras_hourglass.data.formats.people import SkipLog
from keras_hourglass.data.formats.synthetic import default_worker_count
from keras_hourglass.data.formats.synthetic import iterate_synthetic_records
from keras_hourglass.data.formats.synthetic import synthetic_joint_set
from tests.train_helpers import program_messages

MPII_JSON = "mpii_annotations/mpii_annotations.json.gz"
VALID_GT = "mpii_valid_gt/detections_our_format.mat"


def _mpii_entries(shared_data):
    with gzip.open(shared_data / MPII_JSON, "rt") as file:
        return json.load(file)


def test_mpii_real_annotations_match_derived_samples(shared_data):
    records, skip_log = read_mpii(
        shared_data / MPII_JSON, shared_data / "mpii_samples", shared_data / VALID_GT
    )
    assert skip_log.counts == {"image missing": 25_200}
    assert len(records) == 4
    assert sorted(r.split for r in records) == ["train", "train", "valid", "valid"]
    samples = json.loads((shared_data / "mpii_samples/annotations.json").read_text())
    for person in samples["people"]:
        matches = [r for r in records if r.image_id == person["image"]
                   and np.allclose(r.center, person["mpii_objpos"])]  # fmt: skip
        assert len(matches) == 1
        record = matches[0]
        np.testing.assert_allclose(record.joints, person["joints"])
        np.testing.assert_array_equal(record.annotated, person["joints_annotated"])
        visible = np.array(person["joints_is_visible_flag"]) * record.annotated
        np.testing.assert_array_equal(record.visible, visible)
        assert record.scale == pytest.approx(person["mpii_scale"])
        if person.get("headbox_x1y1x2y2"):
            np.testing.assert_allclose(record.head_box, person["headbox_x1y1x2y2"])
            expected = person["pckh_normaliser_0.6_headbox_diag"]
            assert record.normalizer == pytest.approx(expected)
        else:
            assert record.head_box is None and record.normalizer is None
    curling = sorted(r.person_index for r in records if r.image_id == "015601864.jpg")
    assert curling == [0, 1]


def test_mpii_head_boxes_require_matching_order(shared_data, tmp_path):
    entries = _mpii_entries(shared_data)
    validation = [e for e in entries if e["isValidation"]]
    train = [e for e in entries if not e["isValidation"]]
    swapped = train + validation[1:] + validation[:1]
    path = tmp_path / "swapped.json"
    path.write_text(json.dumps(swapped))
    with pytest.raises(ValueError, match="not in the same order"):
        read_mpii(path, shared_data / "mpii_samples", shared_data / VALID_GT)


def _write_bad_mpii(shared_data, tmp_path):
    good = [e for e in _mpii_entries(shared_data) if e["img_paths"] == "015601864.jpg"]
    copies = (json.loads(json.dumps(good[0])) for _ in range(4))
    nan_joint, zero_scale, short, far = copies
    nan_joint["joint_self"][3][0] = float("nan")
    zero_scale["scale_provided"] = 0.0
    short["joint_self"] = short["joint_self"][:15]
    far["joint_self"][0][:2] = [5000.0, 394.0]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(good + [nan_joint, zero_scale, short, far]))
    return path


def test_mpii_bad_entries_are_counted_skips(shared_data, tmp_path):
    path = _write_bad_mpii(shared_data, tmp_path)
    records, skip_log = read_mpii(path, shared_data / "mpii_samples")
    assert len(records) == 3
    assert skip_log.counts == {
        "NaN or infinite joint coordinate": 1,
        "scale not positive and finite": 1,
        "wrong joint count (expected 16)": 1,
    }
    assert skip_log.warnings == {"joint far outside the image, marked unannotated": 1}
    far = records[2]
    assert far.annotated[0] == 0 and tuple(far.joints[0]) == (0.0, 0.0)
    assert far.annotated[1:].sum() == records[0].annotated[1:].sum()


def test_mpii_file_level_errors_name_the_file(shared_data, tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.json"):
        read_mpii(tmp_path / "nothere.json", shared_data / "mpii_samples")
    empty = tmp_path / "empty.json"
    empty.write_text("[]")
    with pytest.raises(ValueError, match="empty.json"):
        read_mpii(empty, shared_data / "mpii_samples")
    broken = tmp_path / "broken.json"
    broken.write_text("[{")
    with pytest.raises(ValueError, match="broken.json"):
        read_mpii(broken, shared_data / "mpii_samples")


def test_mpii_validation_ground_truth_errors_name_the_file(tmp_path):
    read_head_boxes = read_mpii_head_boxes
    with pytest.raises(FileNotFoundError, match="absent.mat: file not found"):
        read_head_boxes(tmp_path / "absent.mat", [])
    corrupt = tmp_path / "corrupt.mat"
    corrupt.write_bytes(b"not a mat file at all")
    with pytest.raises(ValueError, match="corrupt.mat: not a readable .mat file"):
        read_head_boxes(corrupt, [])
    lacking = tmp_path / "lacking.mat"
    scipy.io.savemat(lacking, {"pos_gt_src": np.zeros((16, 2, 1))})
    with pytest.raises(ValueError, match="lacking.mat: variable 'headboxes_src'"):
        read_head_boxes(lacking, [])


def _lsp_subset(shared_data, tmp_path, count=6, layout="14x3xN"):
    joints = scipy.io.loadmat(shared_data / "lspet_train/joints.mat")["joints"]
    joints = joints[:, :, :count]
    if layout == "3x14xN":
        joints = joints.transpose(1, 0, 2)
    path = tmp_path / f"joints_{layout}.mat"
    scipy.io.savemat(path, {"joints": joints})
    return path, joints


def test_lsp_real_subset_round_trip_and_split(shared_data, tmp_path):
    path, joints = _lsp_subset(shared_data, tmp_path)
    images = shared_data / "lspet_train/images"
    records, skip_log = read_lsp(path, images, "visible", val_count=2)
    assert len(records) == 6 and not skip_log.counts
    assert [r.image_id for r in records][:2] == ["im00001.jpg", "im00002.jpg"]
    assert [r.split for r in records] == ["train"] * 4 + ["valid"] * 2
    first = records[0]
    flags = joints[:, 2, 0]
    # Image 1: joint 0 has flag 0 and junk coordinates (0, -26) -> unannotated.
    np.testing.assert_array_equal(first.annotated, flags > 0)
    np.testing.assert_array_equal(first.visible, flags > 0)
    labelled = flags > 0
    np.testing.assert_allclose(first.joints[labelled], joints[labelled, :2, 0])
    low, high = joints[labelled, :2, 0].min(0), joints[labelled, :2, 0].max(0)
    np.testing.assert_allclose(first.center, (low + high) / 2)
    assert first.scale == pytest.approx(max(high - low) * JOINT_BOX_MARGIN / 200)
    other, _ = _lsp_subset(shared_data, tmp_path, layout="3x14xN")
    same, _ = read_lsp(other, images, "visible", val_count=2)
    np.testing.assert_allclose(same[3].joints, records[3].joints)


def test_lsp_occluded_meaning_and_errors(shared_data, tmp_path):
    path, joints = _lsp_subset(shared_data, tmp_path, count=2)
    images = shared_data / "lspet_train/images"
    records, _ = read_lsp(path, images, "occluded", val_fraction=0.5)
    # Original-LSP meaning: every joint labelled, flag 1 = occluded.
    np.testing.assert_array_equal(records[1].visible, joints[:, 2, 1] == 0)
    assert [r.split for r in records] == ["train", "valid"]
    bad = tmp_path / "bad.mat"
    scipy.io.savemat(bad, {"joints": np.zeros((16, 3, 4))})
    with pytest.raises(ValueError, match="bad.mat.*shape"):
        read_lsp(bad, images)
    with pytest.raises(FileNotFoundError, match="missing.mat"):
        read_lsp(tmp_path / "missing.mat", images)
    with pytest.raises(ValueError, match="not both"):
        read_lsp(path, images, val_count=1, val_fraction=0.5)
    missing_images, log = read_lsp(path, tmp_path)
    assert missing_images == [] and log.counts == {"image missing": 2}


def write_coco(tmp_path, image_dir_name="lsp", images=None):
    """A small COCO file over two real LSPET images; with the `images` folder,
    the first image's size is read from its file."""
    keypoints = [0.0] * 51
    keypoints[15:18] = [40.0, 50.0, 2]  # l_shoulder visible
    keypoints[18:21] = [60.0, 52.0, 1]  # r_shoulder occluded
    coco = {
        "images": [{"id": 1, "file_name": "im00002.jpg", "width": 0, "height": 0},
                   {"id": 2, "file_name": "absent.jpg", "width": 9, "height": 9}],
        "categories": [{"id": 1, "name": "person"}],
        "annotations": [
            {"id": 10, "image_id": 1, "category_id": 1, "iscrowd": 0,
             "num_keypoints": 2, "keypoints": keypoints, "bbox": [30, 20, 40, 100]},
            {"id": 11, "image_id": 1, "category_id": 1, "iscrowd": 1,
             "num_keypoints": 2, "keypoints": keypoints, "bbox": [0, 0, 5, 5]},
            {"id": 12, "image_id": 1, "category_id": 1, "iscrowd": 0,
             "num_keypoints": 0, "keypoints": [0] * 51, "bbox": [0, 0, 5, 5]},
            {"id": 13, "image_id": 2, "category_id": 1, "iscrowd": 0,
             "num_keypoints": 2, "keypoints": keypoints, "bbox": [0, 0, 5, 5]},
        ],
    }  # fmt: skip
    if images is not None:
        size = Image.open(images / coco["images"][0]["file_name"]).size
        coco["images"][0]["width"], coco["images"][0]["height"] = size
    return coco


def test_coco_reader(shared_data, tmp_path):
    images = shared_data / "lspet_train/images"
    coco = write_coco(tmp_path, images=images)
    path = tmp_path / "person_keypoints.json"
    path.write_text(json.dumps(coco))
    records, skip_log = read_coco(path, images, split="valid")
    assert skip_log.counts == {
        "crowd annotation": 1, "no annotated joints": 1, "image missing": 1
    }  # fmt: skip
    (record,) = records
    assert record.split == "valid" and record.image_id == "im00002.jpg"
    assert record.annotated.tolist() == [0] * 5 + [1, 1] + [0] * 10
    assert record.visible.tolist() == [0] * 5 + [1, 0] + [0] * 10
    np.testing.assert_allclose(record.joints[5:7], [[40, 50], [60, 52]])
    # Box edges 30..70, 20..120: pixel centres 30.5..69.5, 20.5..119.5.
    np.testing.assert_allclose(record.center, (49.5, 69.5))
    assert record.scale == pytest.approx(100 / 200)
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"images": [], "annotations": []}))
    with pytest.raises(ValueError, match="empty.json: no annotations"):
        read_coco(empty, images)


def test_keypoint_csv_rows_whose_image_is_no_image_file_are_counted_skips(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    Image.fromarray(np.zeros((40, 30, 3), np.uint8)).save(images / "real.png")
    (images / "folder.jpg").mkdir()
    (images / "notes.jpg").write_text("not an image")
    joints = {"nose_x": 5, "nose_y": 6, "tail_x": 7, "tail_y": 8}
    names = ["real.png", "folder.jpg", "notes.jpg", "absent.jpg"]
    path = tmp_path / "pets.csv"
    pd.DataFrame([{"image": name, **joints} for name in names]).to_csv(
        path, index=False
    )
    records, skip_log, _ = read_keypoint_csv(path, images)
    assert [record.image_id for record in records] == ["real.png"]
    assert skip_log.counts == {"image unreadable": 2, "image missing": 1}


def test_keypoint_csv_reader(shared_data, tmp_path):
    images = shared_data / "lspet_train/images"
    rows = [
        {"image": "im00001.jpg", "l_paw_x": 10, "l_paw_y": 20, "r_paw_x": 30,
         "r_paw_y": 40, "r_paw_visible": 0, "nose_x": None, "nose_y": None},
        {"image": "im00003.jpg", "l_paw_x": 50, "l_paw_y": 60, "r_paw_x": 70,
         "r_paw_y": 90, "r_paw_visible": None, "nose_x": 55, "nose_y": 30,
         "bbox_x": 40, "bbox_y": 20, "bbox_w": 50, "bbox_h": 80, "split": "val"},
        {"image": "im00004.jpg", "l_paw_x": 10, "l_paw_y": None, "r_paw_x": 1,
         "r_paw_y": 1, "nose_x": 1, "nose_y": 1},
        {"image": "im00005.jpg", "l_paw_x": math.inf, "l_paw_y": 3, "r_paw_x": 1,
         "r_paw_y": 1, "nose_x": 1, "nose_y": 1},
        {"image": "absent.jpg", "l_paw_x": 1, "l_paw_y": 1, "r_paw_x": 1,
         "r_paw_y": 1, "nose_x": 1, "nose_y": 1},
    ]  # fmt: skip
    path = tmp_path / "cats.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    records, skip_log, joint_set = read_keypoint_csv(path, images)
    assert joint_set.joint_names == ("l_paw", "r_paw", "nose")
    assert joint_set.flip_pairs == ((0, 1),) and joint_set.name == "cats"
    assert skip_log.counts == {
        "joint with only one coordinate": 1,
        "NaN or infinite joint coordinate": 1,
        "image missing": 1,
    }
    first, second = records
    assert first.annotated.tolist() == [1, 1, 0] and first.visible.tolist() == [1, 0, 0]
    np.testing.assert_allclose(first.center, (20, 30))
    assert first.scale == pytest.approx(20 * JOINT_BOX_MARGIN / 200)
    assert second.split == "valid" and second.visible.tolist() == [1, 1, 1]
    # The box covers edges 40..90, 20..100: pixel centres 40.5..89.5, 20.5..99.5.
    np.testing.assert_allclose(second.center, (64.5, 59.5))
    assert second.scale == pytest.approx(80 / 200)
    no_image = tmp_path / "no_image.csv"
    pd.DataFrame([{"a_x": 1, "a_y": 2}]).to_csv(no_image, index=False)
    with pytest.raises(ValueError, match="no_image.csv: no 'image' column"):
        read_keypoint_csv(no_image)


def test_synthetic_records_from_real_generator():
    skip_log = SkipLog()
    records = list(iterate_synthetic_records(3, 2, 1, skip_log, workers=1))
    assert [r.split for r in records] == ["train", "train", "valid"]
    assert len({r.image_id for r in records}) == 3
    from keras_hourglass.synthetic import people as synthetic

    image, annotation = synthetic.generate_person_image(3, 2)
    np.testing.assert_allclose(records[2].joints, annotation["joints"])
    assert records[2].image_size == (image.shape[1], image.shape[0])
    assert records[2].image_bytes[:3] == b"\xff\xd8\xff"
    joint_set = synthetic_joint_set()
    for left, right in joint_set.flip_pairs:
        assert joint_set.joint_names[left].startswith("l_")
        assert joint_set.joint_names[right].startswith("r_")


def test_synthetic_records_are_the_same_rendered_by_two_processes(capfd):
    one = list(iterate_synthetic_records(5, 3, 2, SkipLog(), workers=1))
    capfd.readouterr()
    two = list(iterate_synthetic_records(5, 3, 2, SkipLog(), workers=2))
    # The workers print nothing but TensorFlow's start-up lines, which it
    # writes while loading, before any setting reaches it.
    printed = capfd.readouterr().err
    assert not program_messages(printed), printed
    assert [r.split for r in two] == ["train"] * 3 + ["valid"] * 2
    assert [r.image_bytes for r in two] == [r.image_bytes for r in one]
    for first, second in zip(one, two):
        np.testing.assert_array_equal(first.joints, second.joints)


@pytest.mark.parametrize(
    "samples, cores, workers",
    [(3, 2, 1), (999, 2, 1), (1000, 2, 2), (4400, 2, 2), (4400, 16, 8)],
)
def test_a_worker_is_started_only_for_samples_enough_to_pay_for_it(
    samples, cores, workers
):
    assert default_worker_count(samples, cores) == workers


def test_a_small_synthetic_set_is_rendered_in_this_process(monkeypatch):
    def no_pool(*args, **kwargs):
        raise AssertionError("a pool was started for 3 samples")

    monkeypatch.setattr(
        "keras_hourglass.data.formats.synthetic.multiprocessing.get_context", no_pool
    )
    records = list(iterate_synthetic_records(5, 2, 1, SkipLog()))
    assert [r.split for r in records] == ["train", "train", "valid"]
