"""Painting figures for the synthetic dataset into a float32 H x W x 3 canvas
(0-255), with an optional part-label map from which joint visibility is read.
"""

import numpy as np

from keras_hourglass.synthetic import pose
from keras_hourglass.synthetic.raster import disk
from keras_hourglass.synthetic.raster import ellipse_points
from keras_hourglass.synthetic.raster import hsv_colour
from keras_hourglass.synthetic.raster import limb_pixels
from keras_hourglass.synthetic.raster import paint
from keras_hourglass.synthetic.raster import polygon_pixels
from keras_hourglass.synthetic.raster import random_hsv_colour
from keras_hourglass.synthetic.raster import stripe_shade

# Part labels of the annotated figure (0 = not the figure).
TORSO, NECK, HEAD = 1, 2, 3
R_UPPER_ARM, R_FOREARM, L_UPPER_ARM, L_FOREARM = 4, 5, 6, 7
R_THIGH, R_SHIN, L_THIGH, L_SHIN = 8, 9, 10, 11
R_HAND, L_HAND, R_FOOT, L_FOOT = 12, 13, 14, 15

# Limb parts: label, proximal joint, distal joint, widths at both ends
# (fractions of standing height), colour shade, side.
LIMB_PARTS = (
    (R_THIGH, pose.R_HIP, pose.R_KNEE, 0.085, 0.065, 0.8, "right"),
    (R_SHIN, pose.R_KNEE, pose.R_ANKLE, 0.065, 0.045, 0.7, "right"),
    (L_THIGH, pose.L_HIP, pose.L_KNEE, 0.085, 0.065, 0.8, "left"),
    (L_SHIN, pose.L_KNEE, pose.L_ANKLE, 0.065, 0.045, 0.7, "left"),
    (R_UPPER_ARM, pose.R_SHOULDER, pose.R_ELBOW, 0.06, 0.05, 1.0, "right"),
    (R_FOREARM, pose.R_ELBOW, pose.R_WRIST, 0.05, 0.04, 0.9, "right"),
    (L_UPPER_ARM, pose.L_SHOULDER, pose.L_ELBOW, 0.06, 0.05, 1.0, "left"),
    (L_FOREARM, pose.L_ELBOW, pose.L_WRIST, 0.05, 0.04, 0.9, "left"),
)
# The disk at a leg's or an arm's end: offset beyond the ankle or wrist and
# radius (both in figure heights), palette colour, labels (right, left).
FEET = (0.03, 0.035, "shoe", (R_FOOT, L_FOOT))
HANDS = (0.035, 0.027, "skin", (R_HAND, L_HAND))
# Stripes on limbs slant +/-35 degrees off the limb axis, opposite per side:
# a mirrored left limb then looks exactly like a right one, so flipping an
# image and swapping left/right labels gives another valid sample.
STRIPE_SLANT_DEGREES = {"left": 35.0, "right": -35.0}


def sample_palette(rng, random_side_colours=True):
    """Colours of one figure: a warm and a cool family for the two sides, the
    warm one on a random side with `random_side_colours` (colour then groups a
    side's limbs without naming it, which flips keep true), else on the left."""
    warm = random_hsv_colour(rng, (-10, 45), (0.65, 1.0), (0.7, 1.0))
    cool = random_hsv_colour(rng, (185, 250), (0.65, 1.0), (0.6, 1.0))
    left_is_warm = rng.random() < 0.5 if random_side_colours else True
    # Grey or colourful clothes, nothing between.
    torso_saturation = rng.choice([rng.uniform(0.0, 0.2), rng.uniform(0.5, 0.9)])
    torso_hue = rng.uniform(80, 160)
    torso = hsv_colour(torso_hue, torso_saturation, rng.uniform(0.3, 0.95))
    return {
        "left": warm if left_is_warm else cool,
        "right": cool if left_is_warm else warm,
        "torso": torso,
        "skin": random_hsv_colour(rng, (18, 32), (0.25, 0.6), (0.35, 0.95)),
        "hair": random_hsv_colour(rng, (15, 40), (0.3, 0.8), (0.05, 0.5)),
        "shoe": random_hsv_colour(rng, (0, 360), (0.0, 0.4), (0.05, 0.3)),
    }


def draw_limb(canvas, labels, joints, height_px, part, palette):
    """Paints one striped limb of `LIMB_PARTS`; returns its unit axis."""
    label, start, end, start_width, end_width, shade, side = part
    rows, cols, axis = limb_pixels(
        joints[start],
        joints[end],
        start_width * height_px,
        end_width * height_px,
        canvas.shape[:2],
    )
    slant = pose.rotation_matrix(STRIPE_SLANT_DEGREES[side]) @ axis
    period = max(0.035 * height_px, 4.0)
    stripes = stripe_shade(rows, cols, joints[start], slant, period)
    paint(canvas, labels, rows, cols, palette[side] * shade, label, stripes)
    return axis


def draw_torso(canvas, labels, joints, height_px, palette):
    """Paints the torso quadrilateral around shoulders and hips, and the neck."""
    shoulder_line = joints[pose.L_SHOULDER] - joints[pose.R_SHOULDER]
    hip_line = joints[pose.L_HIP] - joints[pose.R_HIP]
    # Torso edges a little outside the shoulder and hip joints, as on a body.
    shoulder_out = 0.1 * shoulder_line
    hip_out = 0.2 * hip_line
    corners = [
        joints[pose.R_SHOULDER] - shoulder_out,
        joints[pose.L_SHOULDER] + shoulder_out,
        joints[pose.L_HIP] + hip_out,
        joints[pose.R_HIP] - hip_out,
    ]
    rows, cols = polygon_pixels(corners, canvas.shape[:2])
    paint(canvas, labels, rows, cols, palette["torso"], TORSO)
    rows, cols, _ = limb_pixels(
        joints[pose.THORAX],
        joints[pose.UPPER_NECK],
        0.055 * height_px,
        0.05 * height_px,
        canvas.shape[:2],
    )
    paint(canvas, labels, rows, cols, palette["skin"], NECK)


def draw_head(canvas, labels, joints, palette, facing_front):
    """Paints the head; a face (eyes, mouth) shows when facing the camera."""
    neck, top = joints[pose.UPPER_NECK], joints[pose.HEAD_TOP]
    length = max(np.linalg.norm(top - neck), 2.0)
    up = (top - neck) / length
    middle = (neck + top) / 2
    shape = canvas.shape[:2]

    def fill(outline, colour):
        paint(canvas, labels, *polygon_pixels(outline, shape), colour, HEAD)

    # The outline reaches a little past the head-top joint so it lies on the head.
    fill(ellipse_points(middle, up, 0.56 * length, 0.4 * length), palette["skin"])
    if not facing_front:
        hair_middle = middle + 0.03 * length * up
        hair = ellipse_points(hair_middle, up, 0.53 * length, 0.38 * length)
        fill(hair, palette["hair"])
        return
    cap_middle = middle + 0.3 * length * up
    fill(ellipse_points(cap_middle, up, 0.27 * length, 0.4 * length), palette["hair"])
    side = np.array([-up[1], up[0]])
    eye_radius = max(0.06 * length, 1.0)
    for across in (-0.17, 0.17):
        eye = middle + 0.05 * length * up + across * length * side
        eye_pixels = disk((eye[1], eye[0]), eye_radius, shape=shape)
        paint(canvas, labels, *eye_pixels, np.float32([20, 20, 30]), HEAD)
    mouth_middle = middle - 0.25 * length * up
    mouth = ellipse_points(mouth_middle, side, 0.12 * length, 0.04 * length)
    fill(mouth, np.float32([150, 40, 50]))


def draw_figure(canvas, joints, height_px, palette, facing_front, rng, labels=None):
    """Paints a figure at image-pixel `joints`: legs, torso, head, then arms;
    `labels`, when given, receives every painted pixel's part label."""
    draw_limb_pairs(canvas, labels, joints, height_px, palette, rng, LIMB_PARTS[:4],
                    FEET)  # fmt: skip
    draw_torso(canvas, labels, joints, height_px, palette)
    draw_head(canvas, labels, joints, palette, facing_front)
    draw_limb_pairs(canvas, labels, joints, height_px, palette, rng, LIMB_PARTS[4:],
                    HANDS)  # fmt: skip


def draw_limb_pairs(canvas, labels, joints, height_px, palette, rng, parts, ends):
    """Paints a right and a left limb (`parts`, in random depth order), with
    the `ends` disk (`FEET` or `HANDS`) at the end of each lower part."""
    offset, radius, colour, (right_label, left_label) = ends
    order = [0, 1, 2, 3] if rng.random() < 0.5 else [2, 3, 0, 1]
    for index in order:
        axis = draw_limb(canvas, labels, joints, height_px, parts[index], palette)
        if index in (1, 3):
            end = joints[parts[index][2]] + offset * height_px * axis
            label = right_label if index == 1 else left_label
            disk_radius = max(radius * height_px, 1.0)
            rows, cols = disk((end[1], end[0]), disk_radius, shape=canvas.shape[:2])
            paint(canvas, labels, rows, cols, palette[colour], label)
