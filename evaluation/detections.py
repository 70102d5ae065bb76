"""Person detections for top-down pose estimation: a detector's boxes in the
COCO results format (as HRNet and mmpose evaluate with), a JSON list of

    {"image_id": 397133, "bbox": [x, y, w, h], "score": 0.98, "category_id": 1}

`bbox` has pixel edges at integers. `image_id` is a COCO image id (looked
up in `--coco-annotations`, or matched to a numbered file name such as
`000000397133.jpg`) or the image's file name; `category_id` is optional.
A person's score is the box score times the mean of its confident joint
scores, as the top-down methods score people for COCO AP.
"""

import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from evaluation.ground_truth import EvaluationInputError
from evaluation.ground_truth import read_input_json
from evaluation.run_directory import make_predictor
from keras_hourglass.data.metadata import split_files
from keras_hourglass.data.tfrecords import parse_person
from keras_hourglass.serving.inputs import MAX_BOX_TO_IMAGE_RATIO
from keras_hourglass.serving.inputs import MIN_BOX_SIDE_PIXELS

PERSON_CATEGORY_ID = 1
# A joint whose heatmap peak is below this is not trusted in a person's
# score (HRNet's and mmpose's `in_vis_thre`).
KEYPOINT_SCORE_THRESHOLD = 0.2
# COCO's per-keypoint OKS constants (pycocotools' `kpt_oks_sigmas`).
COCO_KEYPOINT_SIGMAS = np.array(
    [0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07,
     0.87, 0.87, 0.89, 0.89]
) / 10.0  # fmt: skip


@dataclass(frozen=True)
class Detection:
    """One usable person box of a detections file."""

    image_id: object  # int COCO id or str file name
    box: tuple  # (x, y, w, h), pixel edges at integers
    score: float


def read_detections_file(path):
    """The entries of a detections file, each checked (`entry_problem`)."""
    if not Path(path).is_file():
        raise EvaluationInputError(f"--detections {path}: no such file")
    entries = read_input_json(path, "--detections")
    if not isinstance(entries, list):
        raise EvaluationInputError(
            f"--detections {path}: expected a JSON list of detections "
            '({"image_id", "bbox", "score"}), got a JSON ' + type(entries).__name__
        )
    for index, entry in enumerate(entries):
        problem = entry_problem(entry)
        if problem:
            raise EvaluationInputError(f"--detections {path} entry {index}: {problem}")
    return entries


def _is_number(value):
    return isinstance(value, int | float) and not isinstance(value, bool)


def entry_problem(entry):
    """Why a detections entry does not have the format's fields, or None."""
    if not isinstance(entry, dict):
        return f"expected an object, got {type(entry).__name__}"
    for field in ("image_id", "bbox", "score"):
        if field not in entry:
            return f"no {field!r} field"
    image_id = entry["image_id"]
    if isinstance(image_id, bool) or not isinstance(image_id, int | str):
        return f"image_id must be an integer id or a file name, got {image_id!r}"
    box = entry["bbox"]
    if not (isinstance(box, list) and len(box) == 4 and all(map(_is_number, box))):
        return f"bbox must be four numbers [x, y, w, h], got {box!r}"
    if not _is_number(entry["score"]):
        return f"score must be a number, got {entry['score']!r}"
    return None


def usable_detections(entries, score_threshold=0.0):
    """The usable person `Detection`s and {reason: count} of the others."""
    usable, skipped = [], Counter()
    for entry in entries:
        box = tuple(float(value) for value in entry["bbox"])
        score = float(entry["score"])
        if entry.get("category_id", PERSON_CATEGORY_ID) != PERSON_CATEGORY_ID:
            skipped["not a person (category_id is not 1)"] += 1
        elif not all(map(math.isfinite, (*box, score))):
            skipped["box or score not finite"] += 1
        elif min(box[2], box[3]) < MIN_BOX_SIDE_PIXELS:
            skipped[f"box side under {MIN_BOX_SIDE_PIXELS:g} px"] += 1
        elif score < score_threshold:
            skipped["score under --detection-score-threshold"] += 1
        else:
            usable.append(Detection(entry["image_id"], box, score))
    return usable, skipped


def group_by_image(detections, image_key, skipped,
                   missing="image not among the evaluated images"):  # fmt: skip
    """{image_key(image_id): [Detection]}; those keyed None count as `missing`."""
    grouped = {}
    for detection in detections:
        image = image_key(detection.image_id)
        if image is None:
            skipped[missing] += 1
            continue
        grouped.setdefault(image, []).append(detection)
    return grouped


def person_score(box_score, joint_scores, threshold=KEYPOINT_SCORE_THRESHOLD):
    """The box score times the mean of the joint scores above `threshold`."""
    joint_scores = np.asarray(joint_scores, np.float64)
    confident = joint_scores[joint_scores > threshold]
    return float(box_score) * (float(confident.mean()) if confident.size else 0.0)


def object_keypoint_similarity(keypoints, others, area, sigmas=COCO_KEYPOINT_SIGMAS):
    """COCO's OKS of keypoints [K, 2] with each of `others` [N, K, 2]."""
    squared = np.sum((np.asarray(others) - np.asarray(keypoints)) ** 2, axis=-1)
    variances = (2 * np.asarray(sigmas)) ** 2
    return np.mean(np.exp(-squared / (2 * variances * (area + np.spacing(1)))), -1)


def oks_nms(keypoints, scores, areas, threshold):
    """Kept indices of greedy OKS suppression of one image's people [P, K, 2];
    a joint set other than COCO's takes the mean OKS constant for every joint."""
    keypoints = np.asarray(keypoints, np.float64)
    sigmas = COCO_KEYPOINT_SIGMAS
    if keypoints.shape[1] != len(sigmas):
        sigmas = np.full(keypoints.shape[1], sigmas.mean())
    order = list(np.argsort(-np.asarray(scores), kind="stable"))
    kept = []
    while order:
        best, order = order[0], order[1:]
        kept.append(int(best))
        if order:
            similarity = object_keypoint_similarity(
                keypoints[best], keypoints[order], areas[best], sigmas
            )
            order = [i for i, oks in zip(order, similarity) if oks <= threshold]
    return kept


def coco_result(image_id, keypoints, score):
    """One person as a COCO keypoint result, every keypoint marked visible."""
    flat = np.concatenate([keypoints, np.ones([len(keypoints), 1])], axis=1)
    return {
        "image_id": image_id,
        "category_id": PERSON_CATEGORY_ID,
        "keypoints": [float(v) for v in flat.reshape(-1)],
        "score": float(score),
    }


def detected_people(grouped, predict_boxes, oks_nms_threshold=0.0):
    """COCO keypoint results of the people in {image: [Detection]};
    `predict_boxes(image, boxes [P, 4])` -> keypoints [P, K, 2], scores [P, K]."""
    results = []
    for image, image_detections in grouped.items():
        boxes = np.array([detection.box for detection in image_detections])
        keypoints, joint_scores = predict_boxes(image, boxes)
        scores = np.array([
            person_score(detection.score, joint)
            for detection, joint in zip(image_detections, joint_scores)
        ])  # fmt: skip
        kept = range(len(boxes))
        if oks_nms_threshold > 0:
            areas = boxes[:, 2] * boxes[:, 3]
            kept = oks_nms(keypoints, scores, areas, oks_nms_threshold)
        results += [coco_result(image, keypoints[i], scores[i]) for i in kept]
    return results


def describe_skipped(skipped):
    """One line: "3 skipped (2 box side under 4 px, 1 ...)" or "none skipped"."""
    total = sum(skipped.values())
    if not total:
        return "none skipped"
    reasons = ", ".join(f"{count} {reason}" for reason, count in skipped.items())
    return f"{total} skipped ({reasons})"


def split_images(metadata, split, file_names):
    """{file name: (encoded bytes, (height, width))} of the split's images."""
    images = {}
    records = tf.data.TFRecordDataset(split_files(metadata, split))
    for person in records.map(parse_person).ignore_errors():
        name = person["image_id"].numpy().decode()
        if name in file_names and name not in images:
            size = (int(person["image_height"]), int(person["image_width"]))
            images[name] = (person["image_encoded"].numpy(), size)
    return images


@dataclass
class DetectedBoxes:
    """Scores a detector's people on the split's images (`write_coco_ap`)."""

    path: str
    entries: list
    model: object
    metadata: dict
    split: str
    flip_test: bool = True
    score_threshold: float = 0.0
    oks_nms_threshold: float = 0.0

    def __call__(self, coco, image_ids):
        file_of = {image_id: coco.imgs[image_id]["file_name"] for image_id in image_ids}
        id_of_file = {name: image_id for image_id, name in file_of.items()}
        usable, skipped = usable_detections(self.entries, self.score_threshold)
        coco_files = {image["file_name"] for image in coco.imgs.values()}
        known = [d for d in usable if d.image_id in coco.imgs
                 or d.image_id in coco_files]  # fmt: skip
        skipped["unknown image id"] += len(usable) - len(known)  # 0s dropped below
        grouped = group_by_image(
            known, lambda key: id_of_file.get(key, key if key in file_of else None),
            skipped,
        )  # fmt: skip
        images = split_images(self.metadata, self.split, set(file_of.values()))
        for image_id, found in grouped.items():
            if file_of[image_id] not in images:
                skipped["image unreadable in the split's records"] += len(found)
                grouped[image_id] = []
                continue
            # The serving inputs refuse a box this much larger than its image.
            limit = MAX_BOX_TO_IMAGE_RATIO * max(images[file_of[image_id]][1])
            fitting = [d for d in found if max(d.box[2], d.box[3]) <= limit]
            skipped["box larger than the image allows"] += len(found) - len(fitting)
            grouped[image_id] = fitting
        grouped = {image_id: found for image_id, found in grouped.items() if found}
        skipped = Counter({reason: n for reason, n in skipped.items() if n})
        used = sum(len(found) for found in grouped.values())
        if not used:
            raise EvaluationInputError(
                f"--detections {self.path}: no usable detection on the "
                f"{len(image_ids)} evaluated images ({describe_skipped(skipped)})"
            )
        predictor = make_predictor(self.model, flip_test=self.flip_test)

        def predict_boxes(image_id, boxes):
            poses = predictor(images[file_of[image_id]][0], boxes=boxes)
            return poses.keypoints, poses.scores

        results = detected_people(grouped, predict_boxes, self.oks_nms_threshold)
        notes = {
            "detections": str(self.path),
            "detections_used": used,
            "detections_skipped": dict(skipped),
            "detection_score_threshold": self.score_threshold,
            "oks_nms": self.oks_nms_threshold,
        }
        return results, notes
