"""`evaluation.predict` results: one dict per person, keypoint CSV/JSON and
skeleton overlays.

CSV: one row per person, columns `image, person, box_x, box_y, box_w, box_h`
then `<joint>_x, <joint>_y, <joint>_score, <joint>_inside` per joint. JSON:
a list of `{"image", "person", "box", "keypoints": {joint: [x, y, score,
inside]}}`. Coordinates are original image px, pixel centres at integers;
`inside` is 0 for a keypoint outside the image (a guess beyond its edge).
Video frames carry a `frame` number instead of separate images.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import skimage.io

from keras_hourglass.drawing import draw_poses


def people_of(poses, **where):
    """Returns one dict per person of a `Poses`, tagged with `where` (an
    `image` path or a video `frame` number)."""
    return [
        {**where, "person": index, "box": poses.boxes[index],
         "keypoints": poses.keypoints[index], "scores": poses.scores[index],
         "inside": poses.inside[index]}
        for index in range(len(poses))
    ]  # fmt: skip


def count_outside(people):
    """Returns (people with a keypoint outside their image, such keypoints)."""
    outside = [int((~np.asarray(person["inside"])).sum()) for person in people]
    return sum(1 for count in outside if count), sum(outside)


def keypoint_rows(people, joint_names):
    """Returns one flat dict per person for the CSV."""
    rows = []
    for person in people:
        row = {key: person[key] for key in ("image", "frame") if key in person}
        row["person"] = person["person"]
        row.update(zip(("box_x", "box_y", "box_w", "box_h"), person["box"]))
        for name, (x, y), score, inside in zip(
            joint_names, person["keypoints"], person["scores"], person["inside"]
        ):
            row.update({f"{name}_x": x, f"{name}_y": y, f"{name}_score": score,
                        f"{name}_inside": int(inside)})  # fmt: skip
        rows.append(row)
    return rows


def write_keypoint_files(out_dir, people, joint_names):
    """Writes `keypoints.csv` and `keypoints.json`; returns their paths."""
    out_dir = Path(out_dir)
    csv_path = out_dir / "keypoints.csv"
    pd.DataFrame(keypoint_rows(people, joint_names)).to_csv(csv_path, index=False)
    records = [
        {
            **{key: person[key] for key in ("image", "frame") if key in person},
            "person": person["person"],
            "box": [float(value) for value in person["box"]],
            "keypoints": {
                name: [float(x), float(y), float(score), int(inside)]
                for name, (x, y), score, inside in zip(
                    joint_names,
                    person["keypoints"],
                    person["scores"],
                    person["inside"],
                )
            },
        }
        for person in people
    ]
    json_path = out_dir / "keypoints.json"
    json_path.write_text(json.dumps(records, indent=1) + "\n")
    return csv_path, json_path


def write_overlay(path, image, people, joint_set, score_threshold=0.2):
    """Draws every person of one image (`keras_hourglass.drawing`) and saves
    it as PNG at `path`."""
    skimage.io.imsave(path, overlay_image(image, people, joint_set, score_threshold),
                      check_contrast=False)  # fmt: skip
    return path


def overlay_image(image, people, joint_set, score_threshold=0.2):
    """Returns uint8 `image` with the people's boxes, labels and skeletons."""
    if not people:
        return np.asarray(image[..., :3], np.uint8)
    return draw_poses(
        image, np.stack([person["keypoints"] for person in people]),
        joint_set.joint_names, joint_set.skeleton,
        scores=np.stack([person["scores"] for person in people]),
        boxes=np.stack([person["box"] for person in people]),
        labels=[f"P{person['person'] + 1}" for person in people],
        score_threshold=score_threshold,
    )  # fmt: skip
