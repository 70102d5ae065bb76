"""Writing `evaluation.predict` results: keypoint CSV/JSON and skeleton overlays.

CSV: one row per person, columns `image, person, box_x, box_y, box_w, box_h`
then `<joint>_x, <joint>_y, <joint>_score` per joint. JSON: a list of
`{"image", "person", "box", "keypoints": {joint: [x, y, score]}}`.
Coordinates are original image px, pixel centres at integers.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import skimage.draw
import skimage.io

LIMB_COLOUR = (0, 255, 0)
JOINT_COLOUR = (255, 0, 0)
BOX_COLOUR = (255, 255, 0)


def keypoint_rows(people, joint_names):
    """Returns one flat dict per person for the CSV."""
    rows = []
    for person in people:
        row = {"image": person["image"], "person": person["person"]}
        row.update(zip(("box_x", "box_y", "box_w", "box_h"), person["box"]))
        for name, (x, y), score in zip(
            joint_names, person["keypoints"], person["scores"]
        ):
            row.update({f"{name}_x": x, f"{name}_y": y, f"{name}_score": score})
        rows.append(row)
    return rows


def write_keypoint_files(out_dir, people, joint_names):
    """Writes `keypoints.csv` and `keypoints.json`; returns their paths."""
    out_dir = Path(out_dir)
    csv_path = out_dir / "keypoints.csv"
    pd.DataFrame(keypoint_rows(people, joint_names)).to_csv(csv_path, index=False)
    records = [
        {
            "image": person["image"],
            "person": person["person"],
            "box": [float(value) for value in person["box"]],
            "keypoints": {
                name: [float(x), float(y), float(score)]
                for name, (x, y), score in zip(
                    joint_names, person["keypoints"], person["scores"]
                )
            },
        }
        for person in people
    ]
    json_path = out_dir / "keypoints.json"
    json_path.write_text(json.dumps(records, indent=1) + "\n")
    return csv_path, json_path


def draw_box(canvas, box):
    """Draws an (x, y, w, h) box outline (edges at integers); skips w <= 0."""
    x, y, width, height = box
    if width <= 0 or height <= 0:
        return
    rows, cols = skimage.draw.rectangle_perimeter(
        (y, x), extent=(height - 1, width - 1), shape=canvas.shape[:2], clip=True
    )
    canvas[rows, cols] = BOX_COLOUR


def draw_skeleton(canvas, keypoints, skeleton, radius=3):
    """Draws limbs (anti-aliased lines) and joints (discs) onto a uint8
    [h, w, 3] canvas, in place; points are clipped to the canvas."""
    height, width = canvas.shape[:2]
    points = np.round(np.asarray(keypoints, np.float64)).astype(int)
    for start, end in skeleton:
        (c0, r0), (c1, r1) = points[start], points[end]
        rows, cols, value = skimage.draw.line_aa(r0, c0, r1, c1)
        keep = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
        rows, cols, value = rows[keep], cols[keep], value[keep, None]
        canvas[rows, cols] = (
            canvas[rows, cols] * (1 - value) + np.array(LIMB_COLOUR) * value
        ).astype(np.uint8)
    for col, row in points:
        rows, cols = skimage.draw.disk((row, col), radius, shape=(height, width))
        canvas[rows, cols] = JOINT_COLOUR
    return canvas


def write_overlay(path, image, people, skeleton):
    """Draws every person of one image and saves it as PNG at `path`."""
    canvas = np.array(image[..., :3], dtype=np.uint8, copy=True)
    for person in people:
        draw_box(canvas, person["box"])
        draw_skeleton(canvas, person["keypoints"], skeleton)
    skimage.io.imsave(path, canvas, check_contrast=False)
    return path
