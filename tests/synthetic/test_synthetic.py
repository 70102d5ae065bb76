"""Tests of the synthetic people dataset generator."""

import numpy as np
import pytest
from skimage.draw import polygon

from keras_hourglass.data.formats.synthetic import synthetic_joint_set
from keras_hourglass.synthetic import pose
from keras_hourglass.synthetic import raster
from keras_hourglass.synthetic import render
from keras_hourglass.synthetic.people import generate_person_image
from keras_hourglass.synthetic.people import iterate_synthetic

SYNTHETIC_JOINT_NAMES = synthetic_joint_set().joint_names
ANNOTATION_ARRAYS = (
    "joints", "joints_annotated", "joints_visible", "center", "head_box",
)  # fmt: skip
SIDE_JOINTS = {
    "left": (pose.L_ELBOW, pose.L_KNEE),
    "right": (pose.R_ELBOW, pose.R_KNEE),
}


def chromaticity(rgb):
    """Colour with brightness divided out (stripes only darken, keeping it)."""
    rgb = np.asarray(rgb, dtype=np.float64)
    return rgb / max(rgb.sum(), 1.0)


def assert_same_sample(first, second):
    (image_a, annotation_a), (image_b, annotation_b) = first, second
    assert image_a.tobytes() == image_b.tobytes()
    for key in ANNOTATION_ARRAYS:
        np.testing.assert_array_equal(annotation_a[key], annotation_b[key])
    assert annotation_a["scale"] == annotation_b["scale"]
    assert annotation_a["image_id"] == annotation_b["image_id"]


def test_same_seed_and_index_give_identical_sample_in_any_order():
    direct = generate_person_image(4, 9)
    assert_same_sample(direct, generate_person_image(4, 9))
    # Reached after other samples: no hidden state carries over.
    assert_same_sample(direct, list(iterate_synthetic(4, count=3, start=7))[-1])
    other_index, other_seed = generate_person_image(4, 10), generate_person_image(5, 9)
    assert direct[0].tobytes() != other_index[0].tobytes()
    assert direct[0].tobytes() != other_seed[0].tobytes()


def test_images_and_annotations_have_the_project_layout():
    shapes = set()
    for image, annotation in iterate_synthetic(0, count=12):
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
        assert 240 <= image.shape[0] <= 480 and 240 <= image.shape[1] <= 480
        assert (annotation["height"], annotation["width"]) == image.shape[:2]
        shapes.add(image.shape)
        assert annotation["joints"].shape == (16, 2)
        unannotated = annotation["joints_annotated"] == 0
        np.testing.assert_array_equal(annotation["joints"][unannotated], 0.0)
        assert np.all(annotation["joints_visible"] <= annotation["joints_annotated"])
        for other in annotation["other_people_joints"]:
            assert other.shape == (16, 3)
    assert len(shapes) > 6 and any(h != w for h, w, _ in shapes)


def test_joint_names_and_flip_pairs_follow_mpii():
    assert len(SYNTHETIC_JOINT_NAMES) == 16
    assert (
        SYNTHETIC_JOINT_NAMES[0] == "r_ankle" and SYNTHETIC_JOINT_NAMES[15] == "l_wrist"
    )
    for left, right in synthetic_joint_set().flip_pairs:
        assert SYNTHETIC_JOINT_NAMES[right].startswith("r_")
        assert SYNTHETIC_JOINT_NAMES[left] == "l_" + SYNTHETIC_JOINT_NAMES[right][2:]


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="max_rotation"):
        generate_person_image(0, 0, max_rotation=10)
    with pytest.raises(ValueError, match="index"):
        generate_person_image(0, -1)


def test_polygon_fill_matches_skimage_on_convex_shapes():
    rng = np.random.default_rng(0)
    for trial in range(100):
        axis = np.array([np.cos(trial), np.sin(trial)])
        outline = raster.ellipse_points(
            rng.uniform(-20, 120, size=2),
            axis,
            rng.uniform(1, 50),
            rng.uniform(0.5, 25),
            count=int(rng.integers(4, 21)),
        )
        rows, cols = raster.polygon_pixels(outline, (90, 110))
        expected_rows, expected_cols = polygon(outline[:, 1], outline[:, 0], (90, 110))
        assert set(zip(rows, cols)) == set(zip(expected_rows, expected_cols))
        assert len(rows) == len(set(zip(rows, cols)))


# (parent, child, nominal length as a fraction of standing height, limb?).
# Limb bones may look shorter (foreshortening); torso and head bones do not.
BONES = (
    (pose.R_HIP, pose.R_KNEE, pose.THIGH_LENGTH, True),
    (pose.R_KNEE, pose.R_ANKLE, pose.SHIN_LENGTH, True),
    (pose.L_HIP, pose.L_KNEE, pose.THIGH_LENGTH, True),
    (pose.L_KNEE, pose.L_ANKLE, pose.SHIN_LENGTH, True),
    (pose.R_SHOULDER, pose.R_ELBOW, pose.UPPER_ARM_LENGTH, True),
    (pose.R_ELBOW, pose.R_WRIST, pose.FOREARM_LENGTH, True),
    (pose.L_SHOULDER, pose.L_ELBOW, pose.UPPER_ARM_LENGTH, True),
    (pose.L_ELBOW, pose.L_WRIST, pose.FOREARM_LENGTH, True),
    (pose.PELVIS, pose.THORAX, pose.TORSO_LENGTH, False),
    (pose.THORAX, pose.UPPER_NECK, pose.NECK_LENGTH, False),
    (pose.UPPER_NECK, pose.HEAD_TOP, pose.HEAD_LENGTH, False),
)


def bend_degrees(parent_start, joint, child_end, sign):
    """Signed bend at `joint` in degrees, for a side with body-frame x `sign`.

    Positive when the child bone turns the way a growing limb angle turns
    (away from the midline for a hanging limb): elbows bend in
    `pose.ELBOW_BEND_RANGE`, knees in minus `pose.KNEE_BEND_RANGE`. Rotating
    or moving the figure does not change the result.
    """
    parent = np.asarray(joint, dtype=np.float64) - parent_start
    child = np.asarray(child_end, dtype=np.float64) - joint
    cross = parent[0] * child[1] - parent[1] * child[0]
    return -sign * np.degrees(np.arctan2(cross, parent @ child))


def test_sampled_poses_respect_joint_limits_and_vary():
    rng = np.random.default_rng(1)
    elbows, knees = [], []
    for _ in range(1500):
        facing_front = bool(rng.random() < 0.5)
        joints = pose.sample_body_pose(rng, facing_front, foreshortening=0.2)
        for side, (s, e, w, h, k, a) in {
            "right": (12, 11, 10, 2, 1, 0), "left": (13, 14, 15, 3, 4, 5),
        }.items():  # fmt: skip
            sign = pose.side_sign(side, facing_front)
            elbows.append(bend_degrees(joints[s], joints[e], joints[w], sign))
            knees.append(-bend_degrees(joints[h], joints[k], joints[a], sign))
        for parent, child, length, is_limb in BONES:
            ratio = np.linalg.norm(joints[child] - joints[parent]) / length
            assert (0.8 - 1e-9 if is_limb else 1 - 1e-9) <= ratio <= 1 + 1e-9
    elbows, knees = np.array(elbows), np.array(knees)
    assert elbows.min() >= pose.ELBOW_BEND_RANGE[0] - 1e-6
    assert elbows.max() <= pose.ELBOW_BEND_RANGE[1] + 1e-6
    assert knees.min() >= pose.KNEE_BEND_RANGE[0] - 1e-6
    assert knees.max() <= pose.KNEE_BEND_RANGE[1] + 1e-6
    # Human limits, independent of the generator's constants.
    assert elbows.max() <= 160 and knees.max() <= 135
    # Real variety, not a fixed stance.
    assert np.percentile(elbows, 90) > 70 and np.percentile(knees, 90) > 40


def test_drawn_bones_are_proportional_to_scale():
    for _, annotation in iterate_synthetic(2, count=15):
        joints, height_px = (
            annotation["render"]["joints_all"],
            annotation["scale"] * 200,
        )
        for parent, child, length, is_limb in BONES:
            ratio = np.linalg.norm(joints[child] - joints[parent]) / (
                length * height_px
            )
            assert (0.85 - 1e-6 if is_limb else 1 - 1e-6) <= ratio <= 1 + 1e-6


def test_scale_is_person_height_and_crop_holds_the_person():
    for _, annotation in iterate_synthetic(6, count=30):
        joints, scale = annotation["render"]["joints_all"], annotation["scale"]
        # Torso and head bones are never foreshortened, so they measure height.
        head_and_torso = sum(
            np.linalg.norm(joints[child] - joints[parent])
            for parent, child, _, is_limb in BONES if not is_limb
        )  # fmt: skip
        standing_height = head_and_torso / (
            pose.TORSO_LENGTH + pose.NECK_LENGTH + pose.HEAD_LENGTH
        )
        assert scale * 200 == pytest.approx(standing_height, rel=0.01)
        extent = joints.max(axis=0) - joints.min(axis=0)
        assert 0.6 * 200 * scale < extent.max() < 1.25 * 200 * scale
        crop_center = annotation["center"] + np.array([0.0, 15.0 * scale])
        assert np.all(np.abs(joints - crop_center) <= 200 * scale * 1.25 / 2)


def test_head_box_contains_head_and_gives_mpii_like_normaliser():
    for _, annotation in iterate_synthetic(7, count=30):
        x1, y1, x2, y2 = annotation["head_box"]
        joints = annotation["render"]["joints_all"]
        for joint in (pose.UPPER_NECK, pose.HEAD_TOP):
            assert x1 <= joints[joint, 0] <= x2 and y1 <= joints[joint, 1] <= y2
        diagonal = np.hypot(x2 - x1, y2 - y1)
        assert annotation["normalizer"] == pytest.approx(0.6 * diagonal)
        # MPII people have a normaliser of about 0.125 x 200 x scale.
        assert 0.09 < annotation["normalizer"] / (200 * annotation["scale"]) < 0.17


def test_visible_limb_joints_lie_on_their_side_colour():
    checked = 0
    for image, annotation in iterate_synthetic(8, count=30):
        colours = annotation["render"]
        for side, joints in SIDE_JOINTS.items():
            own = chromaticity(colours[f"{side}_colour"])
            other = chromaticity(
                colours["left_colour" if side == "right" else "right_colour"]
            )
            for joint in joints:
                if not annotation["joints_visible"][joint]:
                    continue
                col, row = np.rint(annotation["joints"][joint]).astype(int)
                pixel = chromaticity(image[row, col])
                assert np.abs(pixel - own).max() < 0.08, (annotation["image_id"], joint)
                assert np.abs(pixel - own).sum() < np.abs(pixel - other).sum()
                checked += 1
    assert checked > 60


def test_left_and_right_limbs_differ_in_colour():
    for image, annotation in iterate_synthetic(9, count=30):
        left = chromaticity(annotation["render"]["left_colour"])
        right = chromaticity(annotation["render"]["right_colour"])
        assert np.abs(left - right).sum() > 0.2
        visible = annotation["joints_visible"]
        if visible[pose.L_KNEE] and visible[pose.R_KNEE]:
            pixels = [
                chromaticity(
                    image[tuple(np.rint(annotation["joints"][joint][::-1]).astype(int))]
                )
                for joint in (pose.L_KNEE, pose.R_KNEE)
            ]
            assert np.abs(pixels[0] - pixels[1]).sum() > 0.1


def test_mirrored_left_limb_is_drawn_exactly_like_a_right_limb():
    # This is what keeps flip-with-swap augmentation consistent.
    width, palette = (
        121,
        {"left": np.float32([200, 60, 30]), "right": np.float32([200, 60, 30])},
    )
    joints = np.zeros((16, 2))
    joints[pose.L_SHOULDER], joints[pose.L_ELBOW] = (30.3, 20.7), (80.2, 95.1)
    mirrored = joints.copy()
    mirrored[:, 0] = width - 1 - joints[:, 0]
    left_canvas = np.zeros((120, width, 3), np.float32)
    right_canvas = np.zeros((120, width, 3), np.float32)
    left_part, right_part = render.LIMB_PARTS[6], render.LIMB_PARTS[4]
    render.draw_limb(left_canvas, None, joints, 200.0, left_part, palette)
    right_joints = mirrored.copy()
    right_joints[[pose.R_SHOULDER, pose.R_ELBOW]] = mirrored[
        [pose.L_SHOULDER, pose.L_ELBOW]
    ]
    render.draw_limb(right_canvas, None, right_joints, 200.0, right_part, palette)
    differing = np.any(left_canvas[:, ::-1] != right_canvas, axis=2)
    assert differing.mean() < 0.005
    # Without mirroring the two sides' stripes do not line up.
    assert np.any(left_canvas != right_canvas, axis=2).mean() > 0.05


def test_truncated_joints_are_outside_the_image_and_not_annotated():
    truncated_seen = 0
    for image, annotation in iterate_synthetic(
        10, count=15, truncation_probability=1.0
    ):
        height, width = image.shape[:2]
        joints = annotation["render"]["joints_all"]
        outside = (
            (joints[:, 0] < -0.5) | (joints[:, 0] >= width - 0.5)
            | (joints[:, 1] < -0.5) | (joints[:, 1] >= height - 0.5)
        )  # fmt: skip
        np.testing.assert_array_equal(
            annotation["joints_annotated"], (~outside).astype(int)
        )
        np.testing.assert_array_equal(annotation["joints"][outside], 0.0)
        assert not np.any(annotation["joints_visible"][outside])
        assert annotation["joints_annotated"].sum() >= 6
        truncated_seen += int(outside.any())
    assert truncated_seen >= 10


def test_joints_under_occluders_are_marked_not_visible():
    occluded_seen = 0
    for index in range(15):
        clear_image, clear = generate_person_image(
            11, index, occlusion_probability=0.0, noise_std=0.0
        )
        image, annotation = generate_person_image(
            11, index, occlusion_probability=1.0, noise_std=0.0
        )
        # The occluders are the only difference between the two renderings.
        np.testing.assert_array_equal(clear["joints"], annotation["joints"])
        changed = np.any(clear_image != image, axis=2)
        for joint in np.flatnonzero(clear["joints_visible"]):
            col, row = np.rint(annotation["joints"][joint]).astype(int)
            assert annotation["joints_visible"][joint] == int(not changed[row, col])
            occluded_seen += int(changed[row, col])
    assert occluded_seen >= 5


def test_distractor_people_are_recorded_but_not_annotated():
    seen = 0
    for _, annotation in iterate_synthetic(12, count=10, max_distractors=2):
        for other in annotation["other_people_joints"]:
            inside = other[:, 2] > 0
            assert not np.allclose(
                other[inside, :2], annotation["render"]["joints_all"][inside]
            )
            seen += 1
    assert seen >= 5
    for _, annotation in iterate_synthetic(12, count=5, max_distractors=0):
        assert annotation["other_people_joints"] == []
