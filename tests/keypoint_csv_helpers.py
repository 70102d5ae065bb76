"""Custom keypoint sets for tests: synthetic people written as JPEG files and
a keypoint CSV (`keras_hourglass.data.formats.keypoint_csv`) naming any subset
of their joints, converted to shards by the project's converter."""

import csv
from pathlib import Path

import PIL.Image

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
