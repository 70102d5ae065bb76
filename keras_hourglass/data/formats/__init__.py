"""Dataset readers: one function per annotation format, each giving
`PersonRecord`s in original image pixels and a `SkipLog` of what it left out;
file-level problems raise errors naming the file.
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
