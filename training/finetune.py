"""Fine-tuning: start from a trained model's backbone (`--init-from`, copied
into a fresh run only) and train only the joint heads for the first epochs
(`--freeze-backbone-epochs`); the heads are new when the joint count differs.

The model keeps one optimizer built over every weight before the first
freeze, so a backup from either phase resumes in either and the heads'
optimizer state carries over when the backbone thaws. Frozen batch norms keep
their statistics (Keras runs them in inference mode).
"""

from keras_hourglass.model import builder_arguments_of
from keras_hourglass.model import heatmap_head_name
from keras_hourglass.model import joint_head_layer_names
from keras_hourglass.saving import load_model
from keras_hourglass.weights import ArchitectureMismatchError
from keras_hourglass.weights import transfer_matching_weights
from training.builders import compile_model
from training.config import ConfigError
from training.distribute import build_training_state


def initialize_from(model, path):
    """Copies the `--init-from` model's weights into `model` wherever they fit;
    returns the `TransferReport`; ConfigError naming the flag when it cannot be
    read, is a SavedModel export or has another backbone."""
    try:
        loaded = load_model(path)
    except (OSError, ValueError) as error:
        raise ConfigError(f"--init-from {path}: {error}") from None
    if loaded.keras_model is None:
        raise ConfigError(
            f"--init-from {path}: a SavedModel export cannot be fine-tuned; pass "
            "the .keras file or run directory it was exported from"
        )
    try:
        return transfer_matching_weights(loaded.keras_model, model)
    except ArchitectureMismatchError as error:
        advice = "it is not a model this program can start from"
        if error.setting:
            flag = f"--{error.setting.replace('_', '-')}"
            advice = f"pass {flag} {error.source_value} to train its architecture"
        raise ConfigError(f"--init-from {path}: {error}; {advice}") from None


def describe_transfer(report, path):
    """A short report of a transfer: what was copied, what was created."""
    copied = (
        f"--init-from {path}: copied {len(report.copied)} layers "
        f"({report.copied_parameters:,} weights: stem, hourglasses, per-stack "
        "features and feature remaps"
    )
    if not report.created:
        return f"{copied}, and the joint heads: {report.target_joints} joints in both)"
    heads = sum(heatmap_head_name(stack) in report.created
                for stack in range(1, len(report.created) + 1))  # fmt: skip
    remaps = len(report.created) - heads
    return (
        f"{copied}); created {len(report.created)} joint-head layers "
        f"({report.created_parameters:,} weights) for {report.target_joints} "
        f"joints (the source has {report.source_joints}): the heatmap heads of "
        f"{heads} stacks and {remaps} prediction remap{'s' * (remaps != 1)}"
    )


def backbone_layers(model):
    """The layers with weights that are not joint heads."""
    heads = set(joint_head_layer_names(builder_arguments_of(model)["n_stacks"]))
    return [
        layer for layer in model.layers if layer.weights and layer.name not in heads
    ]


def set_backbone_trainable(model, trainable):
    for layer in backbone_layers(model):
        layer.trainable = trainable


def split_fit_calls(calls, freeze_epochs):
    """Splits `training.resume.plan_fit_calls` entries at the epoch where the
    backbone thaws and marks each with `frozen`."""
    split = []
    for call in calls:
        parts = [call]
        if call["initial_epoch"] < freeze_epochs < call["epochs"]:
            parts = [
                {**call, "epochs": freeze_epochs},
                {**call, "initial_epoch": freeze_epochs, "step_offset": 0},
            ]
        split += [{**part, "frozen": part["initial_epoch"] < freeze_epochs}
                  for part in parts]  # fmt: skip
    return split


def set_training_phase(model, frozen, config, strategy, dataset):
    """Freezes or thaws the backbone when `frozen` says another phase, and
    compiles again with the model's own optimizer; True when it changed."""
    frozen_now = not any(layer.trainable for layer in backbone_layers(model))
    if frozen_now == frozen:
        return False
    set_backbone_trainable(model, not frozen)
    with strategy.scope():
        compile_model(model, config, optimizer=model.optimizer)
    build_training_state(model, strategy, dataset)
    if frozen:
        print(
            f"training the joint heads only for the first "
            f"{config.freeze_backbone_epochs} epoch(s); the backbone is frozen"
        )
    else:
        print("training every layer: the backbone is no longer frozen")
    return True
