"""Writing person records into TFRecord shards.

Each split is first streamed to a spool file, so its size is known when its
shard count is chosen (at most `max_shard_bytes` each); records are then dealt
round-robin into `<split>-00000-of-0000N.tfrecord`, so every shard mixes the split.
"""

import math
import os
from pathlib import Path

import tensorflow as tf
from tqdm import tqdm

from keras_hourglass.data import tfrecords
from keras_hourglass.data.image_checks import UnreadableImageError
from keras_hourglass.data.image_checks import inspect_image_bytes
from keras_hourglass.data.image_checks import upright_image_bytes
from keras_hourglass.data.metadata import is_plain_split_name
from keras_hourglass.data.patches import bounded_person_patch

DEFAULT_MAX_SHARD_BYTES = 200 * 1024 * 1024


def choose_num_shards(total_bytes, max_shard_bytes=DEFAULT_MAX_SHARD_BYTES):
    """Returns the fewest shards that keep each at or under `max_shard_bytes`
    (so above `max_shard_bytes / 2` each when there is more than one)."""
    return max(1, math.ceil(total_bytes / max_shard_bytes))


def shard_file_name(split, shard_index, num_shards):
    """Returns e.g. `train-00000-of-00004.tfrecord`."""
    return f"{split}-{shard_index:05d}-of-{num_shards:05d}.tfrecord"


def load_checked_image(record):
    """Returns `(image bytes, (format, width, height))` of a record's image,
    upright, or why the record is skipped."""
    try:
        if record.image_bytes is not None:  # generated, never turned
            return record.image_bytes, inspect_image_bytes(record.image_bytes)
        image_bytes = Path(record.image_path).read_bytes()
        inspect_image_bytes(image_bytes)  # as stored, before turning
        # Annotations of a phone photo are in upright coordinates.
        image_bytes = upright_image_bytes(image_bytes)
        return image_bytes, inspect_image_bytes(image_bytes)
    except FileNotFoundError:
        return "image missing"
    except (UnreadableImageError, OSError):
        return "image unreadable"


class _ImageCache:
    """Remembers the last image file read: people of one image are adjacent."""

    def __init__(self):
        self.path, self.result = None, None

    def load(self, record):
        if record.image_bytes is not None or record.image_path != self.path:
            self.path, self.result = record.image_path, load_checked_image(record)
        return self.result


def encode_person_record(record, skip_log, image_cache=None, patch_input_size=None):
    """Returns the record as serialized `tf.train.Example` bytes, or None (a
    counted skip) for a missing, unreadable or wrongly sized image. With
    `patch_input_size`, a training person is stored as a patch (`patches`);
    other splits keep the whole image, so evaluation stays in original px."""
    where = f"{record.image_id} person {record.person_index}"
    loaded = (image_cache or _ImageCache()).load(record)
    if isinstance(loaded, str):
        skip_log.skip(loaded, where)
        return None
    image_bytes, (image_format, width, height) = loaded
    if record.image_size is not None and tuple(record.image_size) != (width, height):
        skip_log.skip("image size differs from the annotation", where)
        return None
    person = {
        "image_bytes": image_bytes, "image_format": image_format,
        "height": height, "width": width, "image_id": record.image_id,
        "joints": record.joints, "annotated": record.annotated,
        "visible": record.visible, "center": record.center,
        "scale": record.scale, "head_box": record.head_box,
        "normalizer": record.normalizer, "person_index": record.person_index,
    }  # fmt: skip
    if patch_input_size and record.split == "train":
        person = bounded_person_patch(person, patch_input_size)
    return tfrecords.serialize_person(**person)


def spool_records(records, out_dir, skip_log, total=None, patch_input_size=None):
    """Encodes records into one spool file per split in `out_dir`; returns
    {split: {"path", "count", "bytes", "head_boxes"}}."""
    spools, writers, image_cache = {}, {}, _ImageCache()
    try:
        for record in tqdm(records, total=total, desc="encoding", unit="person"):
            serialized = encode_person_record(
                record, skip_log, image_cache, patch_input_size
            )
            if serialized is None:
                continue
            if record.split not in writers:
                if not is_plain_split_name(record.split):
                    raise ValueError(f"split {record.split!r} is not a plain name")
                path = Path(out_dir) / f".{record.split}.spool.tfrecord"
                writers[record.split] = tf.io.TFRecordWriter(str(path))
                spools[record.split] = {
                    "path": path, "count": 0, "bytes": 0, "head_boxes": 0
                }  # fmt: skip
            writers[record.split].write(serialized)
            spools[record.split]["count"] += 1
            spools[record.split]["bytes"] += len(serialized)
            spools[record.split]["head_boxes"] += record.normalizer is not None
    finally:
        for writer in writers.values():
            writer.close()
    return spools


def write_split_shards(spool, split, out_dir, num_shards=None, max_shard_bytes=None):
    """Deals a split's spooled records round-robin into `num_shards` (default:
    from the bytes) shards, deletes the spool and returns the shard names."""
    if num_shards is None:
        num_shards = choose_num_shards(
            spool["bytes"], max_shard_bytes or DEFAULT_MAX_SHARD_BYTES
        )
    num_shards = max(1, min(int(num_shards), spool["count"]))
    names = [shard_file_name(split, i, num_shards) for i in range(num_shards)]
    writers = [tf.io.TFRecordWriter(str(Path(out_dir) / name)) for name in names]
    try:
        dataset = tf.data.TFRecordDataset(str(spool["path"]))
        progress = tqdm(dataset.as_numpy_iterator(), total=spool["count"],
                        desc=f"sharding {split}", unit="person")  # fmt: skip
        for index, serialized in enumerate(progress):
            writers[index % num_shards].write(serialized)
    finally:
        for writer in writers:
            writer.close()
    os.remove(spool["path"])
    return names
