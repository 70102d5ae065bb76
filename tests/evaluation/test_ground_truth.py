"""Ground-truth readers: each format written to tmp_path, then the real files."""

import json

import h5py
import numpy as np
import pytest
import scipy.io

from evaluation.ground_truth import MPII_MAT_JOINT_ORDER
from evaluation.ground_truth import EvaluationInputError
from evaluation.ground_truth import from_arrays
from evaluation.ground_truth import read_annotation_json
from evaluation.ground_truth import read_ground_truth
from evaluation.ground_truth import read_mpii_validation_mat
from evaluation.ground_truth import read_pose_hg_h5
from keras_hourglass.joint_sets import LSP_14
from keras_hourglass.joint_sets import MPII_16


def people_joints(num_people, num_joints=16):
    """Distinct coordinates: person p joint k is (100 p + k, 1000 + 100 p + k)."""
    person = np.arange(num_people)[:, None]
    joint = np.arange(num_joints)[None, :]
    return np.stack([100.0 * person + joint, 1000 + 100.0 * person + joint], axis=2)


def write_detections_mat(path, joints, missing, head_boxes, joint_order=None):
    """Writes the detections_our_format.mat layout (K x 2 x N and so on)."""
    corners = np.stack([head_boxes[:, :2].T, head_boxes[:, 2:].T])
    names = np.empty((1, 16), dtype=object)
    names[0, :] = list(joint_order or MPII_MAT_JOINT_ORDER)
    scipy.io.savemat(
        path,
        {
            "pos_gt_src": joints.transpose(1, 2, 0),
            "jnt_missing": missing.T.astype(np.uint8),
            "headboxes_src": corners,
            "dataset_joints": names,
        },
    )


def test_from_arrays_defaults_names_and_head_box_normaliser():
    joints = people_joints(2)
    boxes = np.array([[0.0, 0.0, 3.0, 4.0], [10.0, 10.0, 16.0, 18.0]])
    ground_truth = from_arrays(joints, np.ones((2, 16)), head_boxes=boxes)
    assert ground_truth.joint_names == MPII_16.joint_names
    np.testing.assert_allclose(ground_truth.normalizer, [3.0, 6.0])  # 0.6 x 5, 10
    lsp = from_arrays(people_joints(1, 14), np.ones((1, 14)))
    assert lsp.joint_names == LSP_14.joint_names and np.isnan(lsp.normalizer).all()
    assert from_arrays(people_joints(1, 3), np.ones((1, 3))).joint_names[2] == "joint_2"


def test_from_arrays_rejects_bad_input_naming_the_source():
    joints = people_joints(2)
    annotated = np.ones((2, 16), bool)
    joints[1, 4] = np.nan
    with pytest.raises(EvaluationInputError, match="src: person 1 joint 4 is annot"):
        from_arrays(joints, annotated, source="src")
    annotated[1, 4] = False  # NaN is fine where nothing is annotated
    assert from_arrays(joints, annotated).num_people == 2
    with pytest.raises(EvaluationInputError, match="person 0 has an invalid PCKh"):
        from_arrays(joints, annotated, normalizer=[-1.0, 2.0])
    with pytest.raises(EvaluationInputError, match="N x K x 2"):
        from_arrays(joints[..., 0], annotated)
    with pytest.raises(EvaluationInputError, match="3 joint names for 16"):
        from_arrays(joints, annotated, joint_names=["a", "b", "c"])


def test_mpii_validation_mat_round_trip(tmp_path):
    joints = people_joints(3)
    missing = np.zeros((3, 16), bool)
    missing[2, 5] = True
    boxes = np.array([[0.0, 0, 30, 40], [5, 5, 11, 13], [1, 1, 4, 5]])
    path = tmp_path / "detections.mat"
    write_detections_mat(path, joints, missing, boxes)
    ground_truth = read_mpii_validation_mat(path)
    np.testing.assert_array_equal(ground_truth.joints, joints)
    np.testing.assert_array_equal(ground_truth.annotated, ~missing)
    np.testing.assert_array_equal(ground_truth.head_boxes, boxes)
    np.testing.assert_allclose(ground_truth.normalizer, [30.0, 6.0, 3.0])
    assert read_ground_truth(path).num_people == 3


def test_mpii_mat_with_other_joint_order_or_missing_variable_fails(tmp_path):
    joints, boxes = people_joints(1), np.array([[0.0, 0, 3, 4]])
    path = tmp_path / "swapped.mat"
    order = list(MPII_MAT_JOINT_ORDER)
    order[0], order[5] = order[5], order[0]
    write_detections_mat(path, joints, np.zeros((1, 16)), boxes, order)
    with pytest.raises(EvaluationInputError, match="not the MPII order"):
        read_mpii_validation_mat(path)
    scipy.io.savemat(tmp_path / "partial.mat", {"pos_gt_src": np.zeros((16, 2, 1))})
    with pytest.raises(EvaluationInputError, match="'jnt_missing' missing"):
        read_mpii_validation_mat(tmp_path / "partial.mat")


@pytest.mark.parametrize("suffix", [".mat", ".h5", ".json"])
def test_missing_empty_and_corrupt_files_are_named(tmp_path, suffix):
    with pytest.raises(EvaluationInputError, match="nothere.*not found"):
        read_ground_truth(tmp_path / f"nothere{suffix}")
    empty = tmp_path / f"empty{suffix}"
    empty.write_bytes(b"")
    with pytest.raises(EvaluationInputError, match="empty.*is empty"):
        read_ground_truth(empty)
    corrupt = tmp_path / f"corrupt{suffix}"
    corrupt.write_bytes(b"\x00\x01 not a real file {")
    with pytest.raises(EvaluationInputError, match="corrupt"):
        read_ground_truth(corrupt)


def test_pose_hg_h5_zero_joints_are_unannotated(tmp_path):
    joints = people_joints(2)
    joints[0, 3] = (0.0, 0.0)  # not annotated
    joints[1, 7] = (0.0, 250.0)  # on the image border: annotated
    path = tmp_path / "valid.h5"
    with h5py.File(path, "w") as file:
        file["part"] = joints
        file["normalize"] = np.array([20.0, 30.0])
        file["visible"] = np.zeros((2, 16))  # occlusion flag: must be ignored
    ground_truth = read_pose_hg_h5(path)
    assert ground_truth.annotated.sum() == 31
    assert not ground_truth.annotated[0, 3] and ground_truth.annotated[1, 7]
    np.testing.assert_array_equal(ground_truth.normalizer, [20.0, 30.0])


def annotation_entry(index, **fields):
    entry = {
        "image": f"im{index}.jpg",
        "joints": people_joints(1)[0].tolist(),
        "joints_annotated": [1] * 16,
    }
    entry.update(fields)
    return entry


def test_annotation_json_list_and_people_forms(tmp_path):
    entries = [
        annotation_entry(0, **{"pckh_normaliser_0.6_headbox_diag": 12.5}),
        annotation_entry(1, headbox_x1y1x2y2=[0, 0, 30, 40]),
        annotation_entry(2, joints_annotated=[0] + [1] * 15),
    ]
    list_path, people_path = tmp_path / "list.json", tmp_path / "people.json"
    list_path.write_text(json.dumps(entries))
    people_path.write_text(json.dumps({"people": entries}))
    for path in (list_path, people_path):
        ground_truth = read_annotation_json(path)
        np.testing.assert_array_equal(ground_truth.normalizer[:2], [12.5, 30.0])
        assert np.isnan(ground_truth.normalizer[2])
        assert ground_truth.annotated.sum() == 47


def test_annotation_json_bad_entry_is_named(tmp_path):
    short = annotation_entry(1, joints=people_joints(1, 14)[0].tolist())
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([annotation_entry(0), short]))
    with pytest.raises(EvaluationInputError, match=r"entry 1 \(im1.jpg\): 14 joints"):
        read_annotation_json(path)
    path.write_text(json.dumps([{"image": "x.jpg", "joints": []}]))
    with pytest.raises(EvaluationInputError, match="entry 0 .x.jpg.: bad entry"):
        read_annotation_json(path)


def test_lsp_joints_mat_both_layouts(tmp_path):
    joints = people_joints(2, 14)
    flags = np.ones((2, 14))
    flags[1, 0] = 0
    lspet = np.concatenate([joints, flags[..., None]], axis=2).transpose(1, 2, 0)
    scipy.io.savemat(tmp_path / "lspet.mat", {"joints": lspet})
    ground_truth = read_ground_truth(tmp_path / "lspet.mat")
    np.testing.assert_array_equal(ground_truth.joints, joints)
    assert ground_truth.annotated.sum() == 27
    scipy.io.savemat(tmp_path / "lsp.mat", {"joints": lspet.transpose(1, 0, 2)})
    assert read_ground_truth(tmp_path / "lsp.mat").annotated.all()


def test_real_mpii_validation_files_agree(shared_data):
    folder = shared_data / "mpii_valid_gt"
    from_mat = read_ground_truth(folder / "detections_our_format.mat")
    from_h5 = read_ground_truth(folder / "valid.h5")
    assert from_mat.num_people == from_h5.num_people == 2958
    assert from_mat.annotated.sum() == 2958 * 16 - 3088
    np.testing.assert_array_equal(from_mat.annotated, from_h5.annotated)
    np.testing.assert_allclose(from_mat.normalizer, from_h5.normalizer, atol=1e-3)


def test_real_annotation_json_matches_the_validation_head_boxes(shared_data):
    samples = read_ground_truth(shared_data / "mpii_samples" / "annotations.json")
    validation = read_ground_truth(
        shared_data / "mpii_valid_gt" / "detections_our_format.mat"
    )
    assert samples.num_people == 4 and samples.joint_names == MPII_16.joint_names
    # The first two people are validation indices 1 and 4 (zero-based).
    np.testing.assert_allclose(samples.normalizer[:2], validation.normalizer[[1, 4]])
    assert np.isnan(samples.normalizer[2:]).all()  # training people: no head box
