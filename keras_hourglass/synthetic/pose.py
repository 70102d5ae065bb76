"""Random 2-D poses of a human skeleton (MPII joint order) for the synthetic data.

A pose is built in a *body frame* (unit: standing height, origin at the pelvis,
image axes), then rotated and scaled into the image. Segment lengths follow the
eight-heads canon; joint angles stay within human limits.
"""

import numpy as np

R_ANKLE, R_KNEE, R_HIP, L_HIP, L_KNEE, L_ANKLE = 0, 1, 2, 3, 4, 5
PELVIS, THORAX, UPPER_NECK, HEAD_TOP = 6, 7, 8, 9
R_WRIST, R_ELBOW, R_SHOULDER, L_SHOULDER, L_ELBOW, L_WRIST = 10, 11, 12, 13, 14, 15
NUM_JOINTS = 16
# Each side's shoulder, elbow, wrist, hip, knee and ankle.
SIDE_JOINTS = {
    "right": (R_SHOULDER, R_ELBOW, R_WRIST, R_HIP, R_KNEE, R_ANKLE),
    "left": (L_SHOULDER, L_ELBOW, L_WRIST, L_HIP, L_KNEE, L_ANKLE),
}

# Fractions of standing height: pelvis to thorax, thorax to upper neck, upper
# neck to head top, and half the shoulder and hip widths.
TORSO_LENGTH = 0.30
NECK_LENGTH = 0.05
HEAD_LENGTH = 0.12
HALF_SHOULDER_WIDTH = 0.105
HALF_HIP_WIDTH = 0.08
# Limb segments (fractions of standing height), proximal to distal.
UPPER_ARM_LENGTH = 0.17
FOREARM_LENGTH = 0.15
THIGH_LENGTH = 0.245
SHIN_LENGTH = 0.24

# Joint-angle limits in degrees. Limb angles are measured from straight down,
# positive away from the body midline; bends are relative to the parent bone.
SHOULDER_RANGE = (-40.0, 175.0)
ELBOW_BEND_RANGE = (0.0, 150.0)
HIP_RANGE = (-20.0, 80.0)
KNEE_BEND_RANGE = (0.0, 120.0)
NECK_TILT_RANGE = (-25.0, 25.0)


def side_sign(side, facing_front):
    """Returns the body-frame x sign of a side ("left"/"right"): a person
    facing the camera has their right side on the image left (-x)."""
    right_sign = -1.0 if facing_front else 1.0
    return right_sign if side == "right" else -right_sign


def limb_direction(angle_degrees, sign):
    """Unit vector `angle_degrees` from straight down, turned towards x = `sign`."""
    radians = np.deg2rad(angle_degrees)
    return np.array([sign * np.sin(radians), np.cos(radians)])


def rotation_matrix(angle_degrees):
    """2x2 matrix rotating image vectors by `angle_degrees` (clockwise on screen)."""
    radians = np.deg2rad(angle_degrees)
    cosine, sine = np.cos(radians), np.sin(radians)
    return np.array([[cosine, -sine], [sine, cosine]])


def sample_limb_angles(rng, foreshortening):
    """Draws one side's shoulder, elbow, hip and knee angles and length factors."""
    # Arms hang loosely more often than they are raised; legs are mostly
    # near straight, as in everyday photos, but every value in range occurs.
    shoulder = SHOULDER_RANGE[0] + np.diff(SHOULDER_RANGE)[0] * rng.beta(1.3, 1.8)
    elbow = ELBOW_BEND_RANGE[1] * rng.beta(1.1, 1.6)
    hip = HIP_RANGE[0] + np.diff(HIP_RANGE)[0] * rng.beta(1.5, 3.5)
    knee = KNEE_BEND_RANGE[1] * rng.beta(1.0, 2.5)
    # A bent knee swings the shin back towards the midline; keep it from
    # crossing far past straight down, where a real knee cannot go.
    knee = min(knee, hip + 45.0)
    factors = rng.uniform(1.0 - foreshortening, 1.0, size=4)
    return {
        "shoulder": shoulder,
        "elbow": elbow,
        "hip": hip,
        "knee": knee,
        "length_factors": factors,
    }


def place_side_limbs(joints, angles, sign, side):
    """Writes one side's elbow, wrist, knee and ankle into body-frame `joints`."""
    shoulder, elbow, wrist, hip, knee, ankle = SIDE_JOINTS[side]
    upper_arm, forearm, thigh, shin = angles["length_factors"] * np.array(
        [UPPER_ARM_LENGTH, FOREARM_LENGTH, THIGH_LENGTH, SHIN_LENGTH]
    )
    # The elbow bend keeps turning the forearm the way the shoulder lifts the
    # upper arm (a wave); the knee bend turns the shin back towards the midline.
    joints[elbow] = joints[shoulder] + upper_arm * limb_direction(
        angles["shoulder"], sign
    )
    forearm_angle = angles["shoulder"] + angles["elbow"]
    joints[wrist] = joints[elbow] + forearm * limb_direction(forearm_angle, sign)
    joints[knee] = joints[hip] + thigh * limb_direction(angles["hip"], sign)
    shin_angle = angles["hip"] - angles["knee"]
    joints[ankle] = joints[knee] + shin * limb_direction(shin_angle, sign)


def sample_body_pose(rng, facing_front, foreshortening=0.15):
    """Samples a [16, 2] body-frame pose; limb bones are `1 - foreshortening` to
    1 times their length, as limbs pointing at the camera look shorter."""
    joints = np.zeros((NUM_JOINTS, 2))
    joints[THORAX] = (0.0, -TORSO_LENGTH)
    neck_tilt = rng.uniform(*NECK_TILT_RANGE)
    joints[UPPER_NECK] = joints[THORAX] + NECK_LENGTH * limb_direction(
        180 + neck_tilt, 1
    )
    head_tilt = neck_tilt + rng.uniform(-10.0, 10.0)
    joints[HEAD_TOP] = joints[UPPER_NECK] + HEAD_LENGTH * limb_direction(
        180 + head_tilt, 1
    )
    for side in ("right", "left"):
        sign = side_sign(side, facing_front)
        shoulder, _, _, hip, _, _ = SIDE_JOINTS[side]
        joints[shoulder] = joints[THORAX] + (sign * HALF_SHOULDER_WIDTH, 0.015)
        joints[hip] = (sign * HALF_HIP_WIDTH, 0.02)
        place_side_limbs(joints, sample_limb_angles(rng, foreshortening), sign, side)
    return joints


def body_to_image(body_joints, height_px, rotation_degrees):
    """Maps body-frame points to image pixels around the pelvis: rotate, scale."""
    return body_joints @ rotation_matrix(rotation_degrees).T * height_px
