"""Dataset readers: real annotation formats -> plain per-person records.

One function per format, each returning `(records, skip_log)` (the CSV reader
also returns the keypoint set its columns define):

- `read_mpii(annotation_path, image_dir, valid_gt_path=None)`: MPII JSON.
- `read_lsp(joints_mat_path, image_dir, flag_meaning, val_count, val_fraction)`.
- `read_coco(annotation_path, image_dir, split)`: COCO person keypoints.
- `read_keypoint_csv(csv_path, image_dir, flip_pairs_text, ...)`: custom sets.
- `iterate_synthetic_records(seed, count, val_count, skip_log)`: generated data.

Records hold joints in original image pixels (pixel centres at integers),
annotated/visible flags, the person centre and scale (person height / 200 px)
and, where known, the head box and PCKh normaliser. Entries that cannot give a
correct target are skipped and counted by reason in the `SkipLog`; file-level
problems (missing or empty annotation file) raise errors naming the file.
"""

from keras_hourglass.data.formats.coco import read_coco
from keras_hourglass.data.formats.keypoint_csv import read_keypoint_csv
from keras_hourglass.data.formats.lsp import LSP_FLAG_MEANINGS
from keras_hourglass.data.formats.lsp import read_lsp
from keras_hourglass.data.formats.mpii import read_mpii
from keras_hourglass.data.formats.people import PersonRecord
from keras_hourglass.data.formats.people import SkipLog
from keras_hourglass.data.formats.synthetic import iterate_synthetic_records
from keras_hourglass.data.formats.synthetic import synthetic_joint_set

__all__ = [
    "LSP_FLAG_MEANINGS",
    "PersonRecord",
    "SkipLog",
    "iterate_synthetic_records",
    "read_coco",
    "read_keypoint_csv",
    "read_lsp",
    "read_mpii",
    "synthetic_joint_set",
]
