"""Reader for COCO person-keypoint JSON files (17 joints).

One record per non-crowd person annotation with a labelled keypoint; `keypoints`
is 17 x (x, y, v), v = 0 unannotated, 1 occluded, 2 visible, pixel centres at
integers. The box (pixel edges at integers, no margin) gives centre and scale.
"""

from pathlib import Path

import numpy as np

from keras_hourglass.data.formats.people import PersonRecord
from keras_hourglass.data.formats.people import SkipLog
from keras_hourglass.data.formats.people import make_checked_record
from keras_hourglass.files import read_json
from keras_hourglass.joint_sets import COCO_17
from keras_hourglass.transforms import person_from_box

COCO_OCCLUDED, COCO_VISIBLE = 1, 2


def person_category_ids(coco, path):
    """Returns the ids of categories named "person" (all ids if none are listed)."""
    categories = coco.get("categories") or []
    # The category list says which annotations are people: one that cannot
    # be read makes the whole file unusable, not one entry.
    if not isinstance(categories, list) or not all(
        isinstance(c, dict) for c in categories
    ):
        raise ValueError(f"{path}: categories must be a list of objects")
    ids = {c.get("id") for c in categories if c.get("name") == "person"}
    if categories and not ids:
        raise ValueError(f"{path}: no category named 'person'")
    return ids or None


def _is_id(value):
    # bool is an int subclass, and a list or dict id cannot be looked up.
    return isinstance(value, int | str) and not isinstance(value, bool)


def index_images(coco_images, annotation_path, skip_log):
    """Returns {image id: image entry}; malformed entries (`id`, `file_name`)
    are counted skips naming their index in `images`."""
    images = {}
    for index, image in enumerate(coco_images):
        usable = (
            isinstance(image, dict)
            and _is_id(image.get("id"))
            and isinstance(image.get("file_name"), str)
        )
        if not usable:
            where = f"{Path(annotation_path).name} images[{index}]"
            skip_log.skip("malformed image entry (id or file_name)", where)
            continue
        images[image["id"]] = image
    return images


def _skip_reason(annotation, person_ids):
    if not isinstance(annotation, dict):
        return "malformed annotation (not an object)"
    if not _is_id(annotation.get("image_id")):
        return "malformed annotation (image_id)"
    if person_ids is not None and annotation.get("category_id") not in person_ids:
        return "not a person annotation"
    if annotation.get("iscrowd"):
        return "crowd annotation"
    if "keypoints" not in annotation:
        return "no keypoints field"
    return None


def _record_from_annotation(annotation, image, split):
    keypoints = np.asarray(annotation["keypoints"], dtype=np.float64)
    if keypoints.size % 3:
        keypoints = np.zeros((0, 3))
    keypoints = keypoints.reshape(-1, 3)
    annotated = (keypoints[:, 2] >= COCO_OCCLUDED).astype(np.int64)
    center, scale = person_from_box([float(v) for v in annotation["bbox"]])
    return PersonRecord(
        image_id=str(image["file_name"]),
        split=split,
        joints=keypoints[:, :2],
        annotated=annotated,
        visible=(keypoints[:, 2] >= COCO_VISIBLE).astype(np.int64),
        center=center,
        scale=scale,
        image_size=(int(image["width"]), int(image["height"])),
    )


def read_coco(annotation_path, image_dir, split="train", max_examples=3):
    """Reads a COCO person-keypoints JSON into `split`'s PersonRecords;
    returns (records, skip_log)."""
    annotation_path, image_dir = Path(annotation_path), Path(image_dir)
    coco = read_json(annotation_path, what="annotation file")
    if not isinstance(coco, dict) or not coco.get("annotations"):
        raise ValueError(f"{annotation_path}: no annotations")
    if not coco.get("images"):
        raise ValueError(f"{annotation_path}: no images")
    if not image_dir.is_dir():
        raise FileNotFoundError(f"image folder not found: {image_dir}")
    present_images = {path.name for path in image_dir.iterdir()}
    skip_log, records, people_per_image = SkipLog(max_examples), [], {}
    images = index_images(coco["images"], annotation_path, skip_log)
    person_ids = person_category_ids(coco, annotation_path)
    for index, annotation in enumerate(coco["annotations"]):
        reason = _skip_reason(annotation, person_ids)
        if isinstance(annotation, dict) and _is_id(annotation.get("id")):
            index = annotation["id"]
        where = f"{annotation_path.name} annotation {index}"
        image = None if reason else images.get(annotation.get("image_id"))
        if reason is None and image is None:
            reason = "image id not in images"
        if reason is None and image.get("file_name") not in present_images:
            reason = "image missing"
        if reason is not None:
            skip_log.skip(reason, where)
            continue
        try:
            record = _record_from_annotation(annotation, image, split)
        except (KeyError, TypeError, ValueError) as error:
            skip_log.skip(f"malformed annotation ({type(error).__name__})", where)
            continue
        record.image_path = image_dir / record.image_id
        record.person_index = people_per_image.get(record.image_id, 0)
        where = f"{where} ({record.image_id})"
        record = make_checked_record(record, COCO_17.num_joints, skip_log, where)
        if record is not None:
            people_per_image[record.image_id] = record.person_index + 1
            records.append(record)
    return records, skip_log
