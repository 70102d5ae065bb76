"""Custom keypoint sets for tests: synthetic people written as JPEG files with
a keypoint CSV (`keras_hourglass.data.formats.keypoint_csv`) naming any subset
of their joints, or with a COCO person-keypoints JSON of 17 joints."""

import csv
import json
from pathlib import Path

import numpy as np
import PIL.Image

from keras_hourglass.joint_sets import COCO_17
from keras_hourglass.joint_sets import MPII_16
from keras_hourglass.synthetic.people import iterate_synthetic
from keras_hourglass.transforms import box_from_person
from training import make_tfrecords

# LSP's 14 joints in LSP's order (its neck is MPII's upper neck), so that
# the built-in 14-joint torso applies; and a small set of 5.
LSP_JOINTS = (
    "r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle", "r_wrist",
    "r_elbow", "r_shoulder", "l_shoulder", "l_elbow", "l_wrist", "upper_neck",
    "head_top",
)  # fmt: skip
FIVE_JOINTS = ("head_top", "l_wrist", "r_wrist", "l_ankle", "r_ankle")


def keypoint_csv_row(image_name, annotation, joint_names, split):
    """One CSV row: image, split, the person's box and each joint (empty
    cells for a joint not annotated)."""
    box = box_from_person(annotation["center"], annotation["scale"])
    row = {"image": image_name, "split": split}
    row.update(zip(("bbox_x", "bbox_y", "bbox_w", "bbox_h"), map(float, box)))
    for name in joint_names:
        index = MPII_16.joint_names.index(name)
        known = annotation["joints_annotated"][index] > 0
        x, y = annotation["joints"][index]
        row[f"{name}_x"] = float(x) if known else ""
        row[f"{name}_y"] = float(y) if known else ""
    return row


def write_keypoint_csv(folder, joint_names, count, val_count, seed=0):
    """Writes `count` training and `val_count` validation synthetic people
    under `folder` (images/*.jpg and people.csv); returns the CSV path."""
    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    people = iterate_synthetic(seed, count + val_count)
    for index, (image, annotation) in enumerate(people):
        name = f"images/person_{index:03d}.jpg"
        PIL.Image.fromarray(image).save(folder / name, quality=90)
        split = "train" if index < count else "valid"
        rows.append(keypoint_csv_row(name, annotation, joint_names, split))
    csv_path = folder / "people.csv"
    with csv_path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return csv_path


def make_keypoint_shards(folder, joint_names, count=16, val_count=8):
    """A converted custom-keypoint dataset under `folder`/shards."""
    csv_path = write_keypoint_csv(Path(folder) / "csv", joint_names, count, val_count)
    out = Path(folder) / "shards"
    make_tfrecords.main(
        ["--format", "csv", "--annotations", str(csv_path), "--out", str(out)]
    )
    return out


def coco_keypoints_of(annotation):
    """17 COCO keypoints [17, 3] (x, y, v) of a synthetic person: the limbs
    are MPII's joints; the face is placed between the upper neck and the
    head top."""
    joints, annotated = annotation["joints"], annotation["joints_annotated"]
    index = MPII_16.joint_names.index
    neck, top = joints[index("upper_neck")], joints[index("head_top")]
    up, side = top - neck, np.array([neck[1] - top[1], top[0] - neck[0]]) * 0.25
    face = {"nose": neck + 0.5 * up, "l_eye": neck + 0.65 * up - side,
            "r_eye": neck + 0.65 * up + side, "l_ear": neck + 0.55 * up - 2 * side,
            "r_ear": neck + 0.55 * up + 2 * side}  # fmt: skip
    head_known = annotated[index("upper_neck")] and annotated[index("head_top")]
    points = []
    for name in COCO_17.joint_names:
        if name in face:
            known, (x, y) = head_known, face[name]
        else:
            known, (x, y) = annotated[index(name)], joints[index(name)]
        points.append([float(x), float(y), 2.0] if known else [0.0, 0.0, 0.0])
    return np.array(points)


def write_synthetic_coco(folder, count, seed=0, first_id=1):
    """Writes `count` synthetic people (one per image) as JPEG files under
    `folder`/images and a COCO person-keypoints JSON; returns its path."""
    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for offset, (image, annotation) in enumerate(iterate_synthetic(seed, count)):
        image_id = first_id + offset
        name = f"{image_id:012d}.jpg"
        PIL.Image.fromarray(image).save(folder / "images" / name, quality=90)
        keypoints = coco_keypoints_of(annotation)
        box = box_from_person(annotation["center"], annotation["scale"])
        box = [float(value) for value in box]
        images.append({"id": image_id, "file_name": name,
                       "width": image.shape[1], "height": image.shape[0]})
        annotations.append({
            "id": 1000 + image_id, "image_id": image_id, "category_id": 1,
            "iscrowd": 0, "bbox": box, "area": box[2] * box[3],
            "num_keypoints": int((keypoints[:, 2] > 0).sum()),
            "keypoints": keypoints.ravel().tolist(),
        })  # fmt: skip
    path = folder / f"person_keypoints_{seed}.json"
    path.write_text(json.dumps({
        "images": images, "annotations": annotations,
        "categories": [{"id": 1, "name": "person",
                        "keypoints": list(COCO_17.joint_names)}],
    }))  # fmt: skip
    return path
