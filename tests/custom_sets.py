"""Generated keypoint data in the formats users bring their own sets in: a
CSV with any joint columns and a COCO person-keypoints JSON, over small
synthetic people (`keras_hourglass.synthetic`, 16 MPII-named joints)."""

import json

import numpy as np
import pandas as pd
from PIL import Image

from keras_hourglass.data.formats.synthetic import synthetic_joint_set
from keras_hourglass.joint_sets import COCO_17
from keras_hourglass.synthetic.people import generate_person_image

SYNTHETIC_JOINT_NAMES = synthetic_joint_set().joint_names
# Small, clean images: one whole person, nothing in front of them.
SMALL_PEOPLE = {
    "image_size_range": (80, 112), "max_distractors": 0, "max_clutter_shapes": 2,
    "truncation_probability": 0.0, "occlusion_probability": 0.0,
}  # fmt: skip
FIVE_JOINTS = ("head_top", "l_wrist", "r_wrist", "l_ankle", "r_ankle")
SEVEN_JOINTS = (
    "head_top", "l_shoulder", "r_shoulder", "l_hip", "r_hip", "l_wrist", "r_wrist",
)  # fmt: skip


def write_people(folder, count, seed=0):
    """Writes `count` synthetic people as JPEGs into `folder`; returns
    [(file name, {joint name: (x, y)}, (width, height))]."""
    folder.mkdir(parents=True, exist_ok=True)
    people = []
    for index in range(count):
        image, annotation = generate_person_image(seed, index, **SMALL_PEOPLE)
        name = f"person{index:03d}.jpg"
        Image.fromarray(image).save(folder / name, quality=92)
        joints = dict(zip(SYNTHETIC_JOINT_NAMES, annotation["joints"].tolist()))
        people.append((name, joints, (annotation["width"], annotation["height"])))
    return people


def joint_box(points, margin=0.1):
    """(x, y, w, h) around `points` [K, 2], `margin` of each side added."""
    points = np.asarray(points, np.float64)
    low, high = points.min(axis=0), points.max(axis=0)
    pad = margin * (high - low) + 1.0
    low, high = low - pad, high + pad
    return [float(v) for v in (*low, *(high - low))]


def write_keypoint_csv(folder, joint_names, count=12, val_count=4, boxes=False):
    """A CSV of `joint_names` (a subset of the synthetic joints) over `count`
    people, the last `val_count` in the valid split; with `boxes`, each
    row also gives its person box (`bbox_*`). Returns the CSV path."""
    rows = []
    for index, (name, joints, _) in enumerate(write_people(folder, count)):
        split = "valid" if index >= count - val_count else "train"
        row = {"image": name, "split": split}
        for joint in joint_names:
            row[f"{joint}_x"], row[f"{joint}_y"] = joints[joint]
        if boxes:
            box = joint_box(list(joints.values()))
            row.update(zip(("bbox_x", "bbox_y", "bbox_w", "bbox_h"), box))
        rows.append(row)
    path = folder / "people.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def coco_keypoints(joints):
    """COCO-17 keypoints (x, y, v) of a synthetic person: body joints as
    drawn, face points placed on the head between neck and head top."""
    neck, top = np.asarray(joints["upper_neck"]), np.asarray(joints["head_top"])
    along, across = top - neck, np.array([neck[1] - top[1], top[0] - neck[0]])
    face = {
        "nose": neck + 0.45 * along,
        "l_eye": neck + 0.6 * along + 0.15 * across,
        "r_eye": neck + 0.6 * along - 0.15 * across,
        "l_ear": neck + 0.5 * along + 0.3 * across,
        "r_ear": neck + 0.5 * along - 0.3 * across,
    }
    points = [face.get(name, joints.get(name)) for name in COCO_17.joint_names]
    return [float(v) for point in points for v in (*point, 2)]


def write_coco_files(folder, count=12, val_count=4):
    """COCO person-keypoints JSON files `train.json` and `valid.json` over
    `count` synthetic people in `folder/images`; returns their paths."""
    people = write_people(folder / "images", count)
    first_valid = count - val_count
    splits = {"train": people[:first_valid], "valid": people[first_valid:]}
    paths = {}
    for split, split_people in splits.items():
        images, annotations = [], []
        for index, (name, joints, (width, height)) in enumerate(split_people, 1):
            keypoints = coco_keypoints(joints)
            box = joint_box(np.reshape(keypoints, (-1, 3))[:, :2])
            images.append({"id": index, "file_name": name, "width": width,
                           "height": height})  # fmt: skip
            annotations.append({
                "id": 100 + index, "image_id": index, "category_id": 1,
                "iscrowd": 0, "num_keypoints": 17, "keypoints": keypoints,
                "bbox": box, "area": box[2] * box[3],
            })  # fmt: skip
        coco = {"images": images, "annotations": annotations,
                "categories": [{"id": 1, "name": "person"}]}  # fmt: skip
        paths[split] = folder / f"{split}.json"
        paths[split].write_text(json.dumps(coco))
    return paths["train"], paths["valid"]
