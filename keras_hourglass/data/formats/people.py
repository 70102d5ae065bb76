"""Per-person records shared by all dataset readers, the checks every record
passes, and the `SkipLog` that counts what they leave out (nothing is dropped
silently, and one bad entry never stops a conversion).
"""

import collections
import logging
import math
from dataclasses import dataclass

import numpy as np

from keras_hourglass.data.tfrecords import person_problem
from keras_hourglass.transforms import CROP_CENTER_SHIFT_Y
from keras_hourglass.transforms import CROP_SCALE_FACTOR
from keras_hourglass.transforms import PIXELS_PER_SCALE
from keras_hourglass.transforms import person_from_box

LOGGER = logging.getLogger("keras_hourglass.data.formats")

# The one "far outside the image" rule: a joint further outside than this
# fraction of the image's width (x) or height (y) is an annotation error, marked
# unannotated and counted. Generous: MPII head tops may lie above the frame.
FAR_OUTSIDE_FRACTION = 0.5

# Joint boxes miss the feet below the ankles, the skull above the head-top
# point and the hands beyond the wrists. On MPII people with all 16 joints
# annotated, 200 x scale is a median 1.16 x the larger side of the joints' box,
# so boxes derived from joints are enlarged by this factor.
JOINT_BOX_MARGIN = 1.15


@dataclass
class PersonRecord:
    """One annotated person in original image pixels, as the record schema
    (`tfrecords`) stores it; the image is a file (`image_path`) or, for
    generated data, `image_bytes`, and `image_size` is (width, height) as the
    annotation states it."""

    image_id: str
    split: str
    joints: np.ndarray
    annotated: np.ndarray
    visible: np.ndarray
    center: tuple
    scale: float
    image_path: object = None
    image_bytes: bytes = None
    image_size: tuple = None
    head_box: tuple = None
    normalizer: float = None
    person_index: int = 0


class SkipLog:
    """Counts skipped entries (and other events) by reason, logging only the
    first `max_examples` of each: 25,000 missing images give a few lines."""

    def __init__(self, max_examples=3):
        self.counts = collections.Counter()
        self.warnings = collections.Counter()
        self.max_examples = max_examples
        self.examples = collections.defaultdict(list)  # the first places per reason
        # Skipped people per split, where the split is known: a split whose
        # people were all skipped must stop the conversion, not vanish.
        self.skipped_by_split = collections.Counter()

    def skip(self, reason, where, split=None):
        """Counts one skipped entry under `reason` (and `split` when given)."""
        self.counts[reason] += 1
        if split is not None:
            self.skipped_by_split[split] += 1
        if self.counts[reason] <= self.max_examples:
            self.examples[reason].append(where)
            LOGGER.warning("skipped %s: %s", where, reason)

    def warn(self, reason, where):
        """Counts one event that did not drop the person (e.g. a fixed joint)."""
        self.warnings[reason] += 1
        if self.warnings[reason] <= self.max_examples:
            LOGGER.warning("%s: %s", where, reason)

    def merge(self, other):
        """Adds another log's counts to this one."""
        self.counts.update(other.counts)
        self.warnings.update(other.warnings)
        self.skipped_by_split.update(other.skipped_by_split)
        for reason, places in other.examples.items():
            room = self.max_examples - len(self.examples[reason])
            self.examples[reason].extend(places[: max(room, 0)])


def mark_far_outside_joints(joints, annotated, image_size, skip_log, where):
    """Returns `annotated` with joints far outside the (width, height) image
    unset, each counted as a warning."""
    if image_size is None:
        return annotated
    width, height = image_size
    x, y = joints[:, 0], joints[:, 1]
    # Pixel i spans [i - 0.5, i + 0.5], so the image spans [-0.5, size - 0.5].
    outside = (
        (x < -0.5 - FAR_OUTSIDE_FRACTION * width)
        | (x > width - 0.5 + FAR_OUTSIDE_FRACTION * width)
        | (y < -0.5 - FAR_OUTSIDE_FRACTION * height)
        | (y > height - 0.5 + FAR_OUTSIDE_FRACTION * height)
    )
    # Non-finite joints are left for `person_problem` to report.
    far = outside & (annotated > 0) & np.isfinite(joints).all(axis=1)
    for joint_index in np.flatnonzero(far):
        skip_log.warn(
            "joint far outside the image, marked unannotated",
            f"{where} joint {joint_index}",
        )
    return np.where(far, 0, annotated).astype(np.int64)


def crop_misses_image(center, scale, image_size):
    """True when every crop window of the person (any convention's: the
    enlarged square widened by the crop shift) lies outside the image, so it
    would train on an empty crop; False when `image_size` is unknown."""
    if image_size is None:
        return False
    width, height = image_size
    half_side = scale * (
        PIXELS_PER_SCALE * max(CROP_SCALE_FACTOR, 1.0) / 2 + CROP_CENTER_SHIFT_Y
    )
    x, y = center
    # Pixel i spans [i - 0.5, i + 0.5], so the image spans [-0.5, size - 0.5].
    return (
        x + half_side < -0.5
        or x - half_side > width - 0.5
        or y + half_side < -0.5
        or y - half_side > height - 0.5
    )


def problem_with_extras(head_box, normalizer, image_size):
    """Returns why a person's head box, PCKh normaliser or image size cannot
    be written (a short reason), or None."""
    if head_box is not None:
        box = np.asarray(head_box, dtype=np.float64).reshape(-1)
        if box.shape != (4,) or not np.all(np.isfinite(box)):
            return "head box not 4 finite values"
    if normalizer is not None and not (
        math.isfinite(float(normalizer)) and float(normalizer) > 0
    ):
        return "PCKh normaliser not positive and finite"
    if image_size is not None:
        size = np.asarray(image_size, dtype=np.float64).reshape(-1)
        if size.shape != (2,) or not np.all(np.isfinite(size) & (size >= 1)):
            return "image size not 2 positive values"
    return None


def center_scale_from_joints(joints, annotated):
    """Returns (centre, scale) from the annotated joints' box with the
    `JOINT_BOX_MARGIN`; scale is NaN when no joint is annotated."""
    labelled = joints[annotated > 0]
    if len(labelled) == 0:
        return (math.nan, math.nan), math.nan
    x1, y1 = labelled.min(axis=0)
    x2, y2 = labelled.max(axis=0)
    # Joints have pixel centres at integers, boxes pixel edges: joint x lies
    # at box coordinate x + 0.5.
    box = (x1 + 0.5, y1 + 0.5, x2 - x1, y2 - y1)
    return person_from_box(box, margin=JOINT_BOX_MARGIN)


def make_checked_record(record, num_joints, skip_log, where):
    """Returns the record made safe, or None (a counted skip) when it cannot
    give a correct target. Joints far outside the image are unset first; a
    record without a `center` gets one, and a scale, from its joints."""
    joints = np.asarray(record.joints, dtype=np.float64)
    annotated = np.asarray(record.annotated, dtype=np.int64).reshape(-1)
    visible = np.asarray(record.visible, dtype=np.int64).reshape(-1)
    if joints.shape != (num_joints, 2) or not len(annotated) == len(visible) == len(
        joints
    ):
        skip_log.skip(f"wrong joint count (expected {num_joints})", where)
        return None
    annotated = mark_far_outside_joints(
        joints, annotated, record.image_size, skip_log, where
    )
    if record.center is None:
        record.center, record.scale = center_scale_from_joints(joints, annotated)
    reason = person_problem(
        joints, annotated, record.center, record.scale, num_joints
    ) or problem_with_extras(record.head_box, record.normalizer, record.image_size)
    if reason is None and crop_misses_image(
        record.center, record.scale, record.image_size
    ):
        reason = "crop window misses the image"
    if reason is not None:
        skip_log.skip(reason, where, split=record.split)
        return None
    record.joints = np.where(annotated[:, None] > 0, joints, 0.0)
    record.annotated = annotated
    record.visible = np.where(annotated > 0, visible, 0)
    record.center = tuple(float(c) for c in record.center)
    record.scale = float(record.scale)
    return record
