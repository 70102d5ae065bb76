"""End-to-end tests of `python -m training.make_tfrecords` through `main`."""

import json

import numpy as np
import pandas as pd
import pytest
import scipy.io
import tensorflow as tf

from keras_hourglass.data import metadata as dataset_metadata
from keras_hourglass.data import tfrecords
from tests.pipeline_helpers import validate_shards
from training.make_tfrecords import main


def read_split(metadata, split):
    """Returns the parsed people of a split as dicts of NumPy values."""
    paths = dataset_metadata.split_files(metadata, split)
    return [
        {key: value.numpy() for key, value in tfrecords.parse_person(s).items()}
        for s in tf.data.TFRecordDataset(paths)
    ]


def test_mpii_end_to_end(shared_data, tmp_path, capsys):
    out = tmp_path / "mpii"
    metadata = main([
        "--format", "mpii", "--out", str(out),
        "--annotations", str(shared_data / "mpii_annotations/mpii_annotations.json.gz"),
        "--images", str(shared_data / "mpii_samples"),
        "--mpii-valid-gt", str(shared_data / "mpii_valid_gt/detections_our_format.mat"),
    ])  # fmt: skip
    printed = capsys.readouterr().out
    assert "skipped (25,200): image missing" in printed
    assert "train: 2 people in 1 shard(s)" in printed
    assert metadata["skipped"] == {"image missing": 25_200}
    assert metadata["splits"]["valid"]["files"] == ["valid-00000-of-00001.tfrecord"]
    samples = json.loads((shared_data / "mpii_samples/annotations.json").read_text())
    valid = {p["image"]: p for p in samples["people"] if p["valid_index"] is not None}
    people = read_split(metadata, "valid")
    assert len(people) == 2
    for person in people:
        name = person["image_id"].decode()
        expected = valid[name]
        image_file = shared_data / "mpii_samples" / name
        assert person["image_encoded"] == image_file.read_bytes()
        np.testing.assert_allclose(person["joints"], expected["joints"], atol=1e-3)
        np.testing.assert_allclose(person["center"], expected["mpii_objpos"])
        assert person["scale"] == pytest.approx(expected["mpii_scale"])
        np.testing.assert_allclose(person["head_box"], expected["headbox_x1y1x2y2"])
        normaliser = expected["pckh_normaliser_0.6_headbox_diag"]
        assert person["normalizer"] == pytest.approx(normaliser, rel=1e-6)
    with pytest.raises(SystemExit, match="--overwrite"):
        main(["--format", "synthetic", "--count", "1", "--out", str(out)])


def test_lsp_end_to_end_with_shard_override(shared_data, tmp_path):
    joints = scipy.io.loadmat(shared_data / "lspet_train/joints.mat")["joints"]
    mat = tmp_path / "joints.mat"
    scipy.io.savemat(mat, {"joints": joints[:, :, :5]})
    metadata = main([
        "--format", "lsp", "--annotations", str(mat), "--out", str(tmp_path / "lsp"),
        "--images", str(shared_data / "lspet_train/images"), "--val-count", "1",
        "--num-shards", "2",
    ])  # fmt: skip
    assert metadata["num_joints"] == 14 and metadata["skipped"] == {}
    assert metadata["splits"]["train"]["count"] == 4
    assert len(metadata["splits"]["train"]["files"]) == 2
    (valid,) = read_split(metadata, "valid")
    assert valid["image_id"] == b"im00005.jpg"
    flags = joints[:, 2, 4]
    np.testing.assert_array_equal(valid["joints_annotated"], flags > 0)
    np.testing.assert_allclose(
        valid["joints"][flags > 0], joints[flags > 0, :2, 4], rtol=1e-5
    )
    validate_shards(metadata)


def test_coco_end_to_end(shared_data, tmp_path):
    from tests.data.test_formats import write_coco

    images = shared_data / "lspet_train/images"
    coco = write_coco(tmp_path, images=images)
    (tmp_path / "train.json").write_text(json.dumps(coco))
    (tmp_path / "val.json").write_text(json.dumps(coco))
    metadata = main([
        "--format", "coco", "--annotations", str(tmp_path / "train.json"),
        "--valid-annotations", str(tmp_path / "val.json"), "--images", str(images),
        "--out", str(tmp_path / "coco"),
    ])  # fmt: skip
    assert metadata["joint_names"][0] == "nose" and metadata["num_joints"] == 17
    assert {s: v["count"] for s, v in metadata["splits"].items()} == {
        "train": 1, "valid": 1
    }  # fmt: skip
    assert metadata["skipped"]["crowd annotation"] == 2
    (person,) = read_split(metadata, "train")
    assert person["joints_visible"].tolist()[5:7] == [1.0, 0.0]
    assert person["image_encoded"] == (images / "im00002.jpg").read_bytes()


def test_csv_end_to_end(shared_data, tmp_path):
    rows = [{"image": f"im0000{i}.jpg", "l_paw_x": 10 + i, "l_paw_y": 20,
             "r_paw_x": 30, "r_paw_y": 40 + i} for i in range(1, 4)]  # fmt: skip
    csv_path = tmp_path / "paws.csv"
    pd.DataFrame(rows).to_csv(csv_path, index=False)
    metadata = main([
        "--format", "csv", "--annotations", str(csv_path), "--val-fraction", "0.34",
        "--images", str(shared_data / "lspet_train/images"),
        "--out", str(tmp_path / "o"),
    ])  # fmt: skip
    assert metadata["joint_names"] == ["l_paw", "r_paw"]
    assert metadata["flip_pairs"] == [[0, 1]]
    (valid,) = read_split(metadata, "valid")
    np.testing.assert_allclose(valid["joints"], [[13, 20], [30, 43]])


def test_synthetic_end_to_end(tmp_path):
    metadata = main([
        "--format", "synthetic", "--seed", "5", "--count", "3", "--val-count", "2",
        "--num-shards", "2", "--out", str(tmp_path / "synthetic"),
    ])  # fmt: skip
    assert metadata["splits"]["train"]["count"] == 3
    assert metadata["created_with"]["seed"] == 5
    # What the set supports: every person has a head box; the torso is
    # l_shoulder (13) to r_hip (2), as in MPII.
    assert metadata["splits"]["train"]["head_boxes"] == 3
    assert metadata["splits"]["valid"]["head_boxes"] == 2
    assert metadata["torso_joints"] == [13, 2]
    people = read_split(metadata, "valid")
    assert sorted(p["image_id"] for p in people) == [
        b"synthetic-5-00000003", b"synthetic-5-00000004"
    ]  # fmt: skip
    from keras_hourglass.synthetic import people as synthetic

    _, annotation = synthetic.generate_person_image(5, 3)
    first = next(p for p in people if p["image_id"].endswith(b"3"))
    np.testing.assert_allclose(first["joints"], annotation["joints"], atol=1e-3)
    assert first["normalizer"] == pytest.approx(annotation["normalizer"], rel=1e-6)
    assert first["image_format"] == b"jpeg"


def test_missing_annotation_file_is_a_clear_error(tmp_path):
    with pytest.raises(SystemExit, match="nothing.json") as exit_info:
        main(["--format", "mpii", "--annotations", str(tmp_path / "nothing.json"),
              "--images", str(tmp_path), "--out", str(tmp_path / "o")])  # fmt: skip
    assert exit_info.value.code == 2
    with pytest.raises(SystemExit, match="--annotations"):
        main(["--format", "lsp", "--out", str(tmp_path / "o2")])


def test_train_patches_shrink_training_images_and_keep_validation(
    shared_data, tmp_path
):
    annotations = shared_data / "mpii_annotations/mpii_annotations.json.gz"

    def convert(out, *extra):
        return main([
            "--format", "mpii", "--out", str(tmp_path / out),
            "--annotations", str(annotations),
            "--images", str(shared_data / "mpii_samples"), *extra,
        ])  # fmt: skip

    whole = convert("whole")
    patched = convert("patched", "--train-patch-size", "256")
    for split in ("train", "valid"):
        pairs = zip(read_split(whole, split), read_split(patched, split))
        for original, patch in pairs:
            if split == "valid":
                assert patch["image_encoded"] == original["image_encoded"]
                continue
            assert patch["image_width"] * patch["image_height"] < (
                0.5 * original["image_width"] * original["image_height"]
            )
            factor = patch["scale"] / original["scale"]
            assert 0.2 < factor < 1.0
            annotated = original["joints_annotated"] > 0
            # Joints move with the pixels: offsets between joints scale.
            offsets = original["joints"][annotated] - original["joints"][annotated][0]
            patch_offsets = patch["joints"][annotated] - patch["joints"][annotated][0]
            np.testing.assert_allclose(patch_offsets, factor * offsets, atol=1e-2)


def write_centred_csv(path, valid_center):
    """A CSV of 4 training people and 2 validation people centred at
    `valid_center`."""
    rows = [{"image": f"im0000{i}.jpg", "l_paw_x": 10 + i, "l_paw_y": 20,
             "r_paw_x": 30, "r_paw_y": 40, "center_x": 20, "center_y": 30,
             "scale": 0.5} for i in range(1, 7)]  # fmt: skip
    for row in rows[4:]:
        row["center_x"], row["center_y"] = valid_center
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_people_whose_crop_misses_the_image_are_counted_skips(shared_data, tmp_path):
    csv_path = write_centred_csv(tmp_path / "paws.csv", (1e9, 1e9))
    with pytest.raises(SystemExit, match=r"split 'valid'.*no usable people") as exit:
        main([
            "--format", "csv", "--annotations", str(csv_path), "--val-count", "2",
            "--images", str(shared_data / "lspet_train/images"),
            "--out", str(tmp_path / "o"),
        ])  # fmt: skip
    assert "\n" not in str(exit.value.code)
    assert not (tmp_path / "o" / "dataset.json").exists()


def test_a_person_whose_crop_misses_the_image_is_skipped_and_reported(
    shared_data, tmp_path
):
    csv_path = write_centred_csv(tmp_path / "paws.csv", (20, 30))
    table = pd.read_csv(csv_path)
    table.loc[0, ["center_x", "center_y"]] = 1e9
    table.to_csv(csv_path, index=False)
    metadata = main([
        "--format", "csv", "--annotations", str(csv_path), "--val-count", "2",
        "--images", str(shared_data / "lspet_train/images"),
        "--out", str(tmp_path / "o"),
    ])  # fmt: skip
    assert metadata["skipped"] == {"crop window misses the image": 1}
    assert metadata["splits"]["train"]["count"] + metadata["splits"]["valid"][
        "count"
    ] == 5
