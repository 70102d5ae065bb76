"""COCO keypoint AP (OKS based) of an evaluation, computed by pycocotools.

The shards keep no COCO annotation id or area, which OKS needs, so each
evaluated person is matched to the annotation of its image in the original
COCO JSON with the same labelled keypoints (the converter keeps them
unchanged); scoring against that file also keeps COCO's rules (crowd regions
and people without keypoints are ignored, not missed). People are cropped from
their ground-truth boxes (an upper bound for a detector-driven pipeline; a
person scores the mean of its joints' peaks) or, with `--detections`, from a
person detector's boxes (`evaluation.detections`), the benchmark's setting.
"""

import contextlib
import io
from pathlib import Path

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from evaluation.detections import coco_result
from evaluation.detections import describe_skipped
from evaluation.ground_truth import EvaluationInputError
from evaluation.ground_truth import read_input_json
from keras_hourglass.files import write_json_atomically
from keras_hourglass.files import write_text_atomically

# COCOeval.stats order for iouType "keypoints" (first six entries).
STAT_NAMES = ("AP", "AP50", "AP75", "APm", "APl", "AR")
MATCH_TOLERANCE_PX = 0.01
GROUND_TRUTH_BOXES = "ground-truth boxes"
DETECTED_BOXES = "detected boxes"


def load_coco_ground_truth(annotation_path):
    """A pycocotools `COCO` index of a person-keypoints JSON file."""
    dataset = read_input_json(annotation_path, "--coco-annotations")
    if not isinstance(dataset, dict) or not dataset.get("annotations"):
        raise EvaluationInputError(f"{annotation_path}: no COCO annotations")
    return coco_index(dataset)


def coco_index(dataset):
    """A `COCO` index of a dataset dict, without its console chatter."""
    coco = COCO()
    coco.dataset = dataset
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def match_annotation(coco, file_name, joints, annotated, where):
    """The COCO annotation of `file_name` with these labelled keypoints."""
    image_ids = [i for i, image in coco.imgs.items() if image["file_name"] == file_name]
    labelled = np.asarray(annotated) > 0
    for annotation in coco.loadAnns(coco.getAnnIds(imgIds=image_ids)):
        points = np.asarray(annotation.get("keypoints", []), np.float64).reshape(-1, 3)
        if points.shape[0] != len(labelled):
            continue
        same_labels = np.array_equal(points[:, 2] > 0, labelled)
        if same_labels and np.allclose(
            points[labelled, :2], np.asarray(joints)[labelled], atol=MATCH_TOLERANCE_PX
        ):
            return annotation
    raise EvaluationInputError(
        f"{where}: no annotation of {file_name!r} in the COCO JSON has these "
        "keypoints (was the split converted from another file?)"
    )


def detections(keypoints, scores, image_ids):
    """COCO keypoint results, a person's score the mean of its joint scores."""
    return [
        coco_result(int(image_id), points, np.mean(joint_scores))
        for points, joint_scores, image_id in zip(keypoints, scores, image_ids)
    ]


def keypoint_ap(coco, results, image_ids=None):
    """{stat: value} of pycocotools' keypoint evaluation over `image_ids`
    (default: those with results), so unevaluated images' people are no misses."""
    if not results:
        raise EvaluationInputError("COCO AP: no detections to score")
    with contextlib.redirect_stdout(io.StringIO()):
        predicted = coco.loadRes(results)
        evaluator = COCOeval(coco, predicted, iouType="keypoints")
        evaluator.params.imgIds = sorted(
            set(image_ids or [result["image_id"] for result in results])
        )
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return {name: float(value) for name, value in zip(STAT_NAMES, evaluator.stats)}


def write_coco_ap(out_dir, annotation_path, run, detected=None):
    """Writes `coco_ap.json` and `.md` of an `EvaluationRun`'s final stack and
    returns the JSON's contents; `detected` scores a detector's people."""
    if not annotation_path:
        raise EvaluationInputError(
            "--metric coco-ap needs --coco-annotations: the COCO person-keypoints "
            "JSON the evaluated split was converted from"
        )
    coco = load_coco_ground_truth(annotation_path)
    image_ids = []
    for index, file_name in enumerate(run.meta["image_id"]):
        where = f"person {index} ({file_name} #{run.meta['person_index'][index]})"
        annotation = match_annotation(
            coco, str(file_name), run.meta["joints"][index],
            run.meta["joints_annotated"][index], where,
        )  # fmt: skip
        image_ids.append(annotation["image_id"])
    if detected is None:
        boxes, counted = GROUND_TRUTH_BOXES, f"{len(image_ids)} people"
        results = detections(run.keypoints[-1], run.scores[-1], image_ids)
        notes = {}
    else:
        boxes = DETECTED_BOXES
        results, notes = detected(coco, sorted(set(image_ids)))
        counted = (
            f"{len(set(image_ids))} images, {len(image_ids)} people, "
            f"{notes['detections_used']} detections used, "
            f"{describe_skipped(notes['detections_skipped'])}"
        )
    stats = keypoint_ap(coco, results, image_ids)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {"boxes": boxes, **stats, **notes}
    write_json_atomically(out_dir / "coco_ap.json", written)
    header = "| " + " | ".join(STAT_NAMES) + " |"
    rule = "|" + "---|" * len(STAT_NAMES)
    # pycocotools reports -1 for an area range without ground truth.
    cells = [f"{100 * stats[n]:.1f}" if stats[n] >= 0 else "n/a" for n in STAT_NAMES]
    row = "| " + " | ".join(cells) + " |"
    write_text_atomically(
        out_dir / "coco_ap.md",
        f"COCO keypoint AP (OKS, {boxes}), percent; "
        f"{counted}\n\n{header}\n{rule}\n{row}\n",
    )
    return written
