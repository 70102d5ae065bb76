"""Tests for the skeleton overlays of `keras_hourglass.drawing`."""

import numpy as np

from keras_hourglass import drawing
from keras_hourglass.joint_sets import MPII_16

NAMES, SKELETON = ("l_hip", "l_knee", "r_hip", "r_knee"), ((0, 1), (2, 3), (0, 2))


def person(x_shift=0.0):
    """Left leg at x = 30, right leg at x = 70, knees 60 px below the hips."""
    return np.array([[30, 20], [30, 80], [70, 20], [70, 80]], float) + [x_shift, 0]


def colour_at(image, x, y):
    return tuple(int(v) for v in image[y, x])


def test_limb_sides_follow_the_joint_names():
    assert drawing.limb_sides(NAMES, SKELETON) == ["left", "right", "middle"]
    sides = drawing.limb_sides(MPII_16.joint_names, MPII_16.skeleton)
    assert sides.count("left") == sides.count("right") == 6


def test_left_and_right_limbs_get_the_two_shades_of_the_person_colour():
    canvas = np.zeros([100, 100, 3], np.uint8)
    drawn = drawing.draw_poses(canvas, person()[None], NAMES, SKELETON, labels=[""])
    shades = drawing.side_colours(drawing.PERSON_COLOURS[0])
    assert colour_at(drawn, 30, 50) == shades["left"]
    assert colour_at(drawn, 70, 50) == shades["right"]
    assert shades["left"] != shades["right"]


def test_people_get_distinct_colours_and_labels_change_pixels():
    canvas = np.zeros([100, 200, 3], np.uint8)
    both = np.stack([person(), person(100)])
    drawn = drawing.draw_poses(canvas, both, NAMES, SKELETON, labels=["", ""])
    assert colour_at(drawn, 30, 50) != colour_at(drawn, 130, 50)
    labelled = drawing.draw_poses(canvas, both, NAMES, SKELETON)
    assert np.any(labelled != drawn)


def test_low_scores_are_faint_or_hidden():
    canvas = np.zeros([100, 100, 3], np.uint8)
    scores = np.array([[1.0, 0.05, 1.0, 1.0]])  # the left knee is unsure
    kwargs = dict(scores=scores, labels=[""], score_threshold=0.2)
    faint = drawing.draw_poses(canvas, person()[None], NAMES, SKELETON, **kwargs)
    hidden = drawing.draw_poses(
        canvas, person()[None], NAMES, SKELETON, low_score="hide", **kwargs
    )
    solid = drawing.side_colours(drawing.PERSON_COLOURS[0])["left"]
    assert 0 < faint[50, 30].max() < max(solid)  # blended with the black image
    assert hidden[50, 30].max() == 0
    assert colour_at(hidden, 70, 50) == colour_at(faint, 70, 50)  # right leg solid


def test_a_keypoint_outside_is_marked_on_the_border():
    canvas = np.zeros([100, 100, 3], np.uint8)
    points = person()[None].copy()
    points[0, 3] = [70, 180]  # right knee far below the image
    drawn = drawing.draw_poses(canvas, points, NAMES, SKELETON, labels=[""])
    assert drawn[88:100, 64:77].any()  # the marker near the bottom edge
    assert drawn[92:100, 0:50].max() == 0


def test_line_width_grows_with_the_image():
    assert drawing.line_width_for(64, 64) == 1
    assert drawing.line_width_for(425, 640) == 4
    assert drawing.line_width_for(1080, 1920) == 11


def test_truth_beside_prediction_doubles_the_width():
    image = np.full([60, 80, 3], 0.5, np.float32)
    sheet = drawing.draw_truth_beside_prediction(
        image, person()[None] * 0.6, np.ones([1, 4]), person()[None] * 0.6,
        np.ones([1, 4]), NAMES, SKELETON,
    )  # fmt: skip
    assert sheet.dtype == np.uint8 and sheet.shape[1] == 2 * 80 + 2
    assert sheet.shape[0] > 60  # title strip
