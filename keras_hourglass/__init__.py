"""keras_hourglass: Stacked Hourglass Networks for human pose estimation in Keras 3.

    model = keras_hourglass.build_stacked_hourglass(n_stacks=8, n_joints=16)
    model.compile(optimizer="rmsprop", loss=keras_hourglass.joint_heatmap_mse)

Importing the package registers every Keras object a saved model may name
(the heatmap loss), so a `.keras` file compiled with it loads in any process
that has imported `keras_hourglass`, as Keras expects of a library.
"""

from keras_hourglass.data.pipeline import make_dataset
from keras_hourglass.joint_sets import COCO_17
from keras_hourglass.joint_sets import LSP_14
from keras_hourglass.joint_sets import MPII_16
from keras_hourglass.joint_sets import JointSet
from keras_hourglass.losses import joint_heatmap_mse
from keras_hourglass.model import build_stacked_hourglass
from keras_hourglass.model import heatmap_output_name
from keras_hourglass.predictor import Poses
from keras_hourglass.predictor import load_predictor
from keras_hourglass.predictor import predict_poses

__version__ = "0.1.0"

__all__ = [
    "COCO_17",
    "LSP_14",
    "MPII_16",
    "JointSet",
    "Poses",
    "build_stacked_hourglass",
    "heatmap_output_name",
    "joint_heatmap_mse",
    "load_predictor",
    "make_dataset",
    "predict_poses",
]
