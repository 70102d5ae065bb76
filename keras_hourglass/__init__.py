"""keras_hourglass: Stacked Hourglass Networks for human pose estimation in Keras 3.

Importing the package has no side effects: it does not import TensorFlow
unless a TensorFlow-using module (records, pipeline, export) is imported.
"""

from keras_hourglass.model import build_stacked_hourglass
from keras_hourglass.model import heatmap_output_name

__all__ = ["build_stacked_hourglass", "heatmap_output_name"]
__version__ = "0.1.0"
