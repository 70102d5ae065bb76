r"""Convert a published pytorch_stacked_hourglass checkpoint to a `.keras` model.

    pip install -e ".[torch]"
    python -m training.convert_weights --checkpoint checkpoint.pt \
        --out hourglass8_mpii.keras

Reads the checkpoint (a `.npz` of name -> array needs no PyTorch), builds the
matching model and writes it with a sidecar recording its source, joint set
and the port's crop convention, so every program crops people the port's way.
"""

import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from keras_hourglass.joint_sets import builtin_joint_set
from keras_hourglass.model import joint_count
from keras_hourglass.saving import save_model
from keras_hourglass.saving import sidecar_path
from keras_hourglass.transforms import PYTORCH_PORT
from keras_hourglass.weights import build_model_from_state_dict
from training.cli_flags import add_dataclass_flags
from training.cli_flags import option
from training.cli_flags import program_parser
from training.programs import install_extra_command
from training.programs import run_main


def torch_missing_message():
    """What to do without PyTorch, naming the pip command for this install."""
    return (
        "reading a PyTorch checkpoint needs PyTorch, which is not installed; "
        f"install the optional extra with `{install_extra_command('torch')}` (or "
        "`pip install torch`), or pass a .npz of name -> array instead"
    )

# The port feeds crops as float RGB in [0, 1], channels last (its
# data/MPII/dp.py divides by 255; PoseNet.forward permutes NHWC -> NCHW),
# which is what our pipeline and serving inputs give the model.
INPUT_NORMALISATION = "RGB, float32 in [0, 1] (uint8 / 255), channels last"


class TorchMissingError(RuntimeError):
    """PyTorch is needed for this checkpoint and is not installed."""


def read_torch_checkpoint(path):
    """Returns name -> float NumPy array from a `.pt` / `.pth.tar` file.
    `weights_only=True`: a downloaded file cannot run code while loading."""
    try:
        import torch  # optional (the [torch] extra): .npz checkpoints need none
    except ImportError as error:
        raise TorchMissingError(torch_missing_message()) from error
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ValueError(
            f"{path}: not a readable PyTorch checkpoint ({error})"
        ) from error
    if isinstance(checkpoint, dict) and isinstance(checkpoint.get("state_dict"), dict):
        checkpoint = checkpoint["state_dict"]
    if not isinstance(checkpoint, dict) or not checkpoint:
        raise ValueError(
            f"{path}: expected a checkpoint dict with a 'state_dict' entry or a "
            f"state dict, got {type(checkpoint).__name__}"
        )
    return {
        name: tensor.detach().cpu().numpy()
        for name, tensor in checkpoint.items()
        if torch.is_tensor(tensor)
    }


def read_checkpoint_arrays(path):
    """Reads a `.npz` (no PyTorch needed) or a PyTorch checkpoint."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint file")
    if path.suffix != ".npz":
        return read_torch_checkpoint(path)
    with np.load(path, allow_pickle=False) as arrays:
        return {name: arrays[name] for name in arrays.files}


def convert_checkpoint(checkpoint_path, out_path, input_size=256):
    """Converts one checkpoint; returns `(model, report)`."""
    state_dict = read_checkpoint_arrays(checkpoint_path)
    model, report = build_model_from_state_dict(
        state_dict, input_shape=(input_size, input_size, 3)
    )
    out_path = Path(out_path)
    if out_path.suffix != ".keras":
        raise ValueError(f"{out_path}: the output must be a .keras file")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    notes = {
        "source": "princeton-vl/pytorch_stacked_hourglass checkpoint",
        "checkpoint": str(checkpoint_path),
        "input_size": int(model.input_shape[1]),
        "input_normalisation": INPUT_NORMALISATION,
        "ignored_tensors": list(report.ignored),
    }
    save_model(
        model, out_path, joint_set=builtin_joint_set(joint_count(model)),
        crop_convention=PYTORCH_PORT, notes=notes,
    )  # fmt: skip
    return model, report


@dataclass
class ConvertWeightsConfig:
    """Everything one checkpoint conversion depends on."""

    checkpoint: str = option("", ".pt/.pth.tar or .npz")
    out: str = option("", "the .keras file to write")
    input_size: int = option(256, "square crop side (port: 256)")


def parse_args(argv=None):
    """Parses `argv` into a `ConvertWeightsConfig`."""
    parser = program_parser("training.convert_weights", __doc__.splitlines()[0])
    add_dataclass_flags(parser, ConvertWeightsConfig, required=("checkpoint", "out"))
    return ConvertWeightsConfig(**vars(parser.parse_args(argv)))


def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parse_args(argv)
    try:
        model, report = convert_checkpoint(args.checkpoint, args.out, args.input_size)
    except TorchMissingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except (ValueError, FileNotFoundError) as error:  # the user's paths
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(
        f"wrote {args.out} ({len(model.outputs)} stacks, "
        f"{joint_count(model)} joints, {model.count_params():,} "
        f"parameters) and {sidecar_path(args.out)}; {len(report.used)} tensors "
        f"used, {len(report.ignored)} ignored (unused skip convolutions and "
        "batch-norm counters)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
