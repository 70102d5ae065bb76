"""The parts of a training run built from its config, shared by `model.fit`
(`training.train`) and the multi-worker loop (`training.multiworker`).
"""

from pathlib import Path

from keras_hourglass.data.examples import AugmentationRanges
from keras_hourglass.data.metadata import read_metadata
from keras_hourglass.data.metadata import split_files
from keras_hourglass.data.patches import patches_hold_crops
from keras_hourglass.data.pipeline import PipelineOptions
from keras_hourglass.data.pipeline import make_dataset
from keras_hourglass.losses import joint_heatmap_mse
from keras_hourglass.model import build_stacked_hourglass
from training.config import ConfigError
from training.distribute import make_optimizer
from training.distribute import wrap_optimizer_for_precision
from training.programs import program_command
from training.remat import rematerialize_stacks


def check_run_dir(config):
    """Raises `ConfigError` when the run directory's path names a file."""
    run_dir = Path(config.run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(
            f"--run-dir {run_dir} is a file, not a directory; give a new or "
            "existing run folder"
        )


def check_data_dir(config):
    """Raises `ConfigError` when the data directory or its metadata is missing."""
    data_dir = Path(config.data_dir)
    if data_dir.exists() and not data_dir.is_dir():
        raise ConfigError(
            f"--data-dir {data_dir} is not a directory (a file); give the folder "
            "that holds dataset.json and the shards"
        )
    if not data_dir.is_dir():
        raise ConfigError(
            f"data directory {data_dir} does not exist; make shards first, e.g. "
            f"{program_command('training.make_tfrecords')} --format synthetic "
            f"--out {data_dir}"
        )
    if not (data_dir / "dataset.json").is_file():
        raise ConfigError(f"{data_dir} has no dataset.json (not a shard directory)")


def read_dataset(config):
    """Returns (metadata, train files, valid files) of `config.data_dir`;
    ConfigError when the directory, its metadata or a split is missing."""
    check_data_dir(config)
    try:
        metadata = read_metadata(config.data_dir)
        train_files = split_files(metadata, "train")
        valid_files = split_files(metadata, "valid")
    except (FileNotFoundError, ValueError) as error:
        raise ConfigError(str(error)) from None
    for split, files in (("train", train_files), ("valid", valid_files)):
        if not files or not metadata["splits"][split].get("count", 0):
            raise ConfigError(f"{config.data_dir}: the {split} split is empty")
    check_patches_hold_crops(config, metadata)
    return metadata, train_files, valid_files


def check_patches_hold_crops(config, metadata):
    """ConfigError naming the flags when the training people are patches
    (`--train-patch-size`) too small for this run's crops."""
    created_with = metadata.get("created_with")
    patch_size = isinstance(created_with, dict) and created_with.get("train_patch_size")
    if not isinstance(patch_size, int) or patch_size <= 0:
        return
    if not patches_hold_crops(patch_size, config.input_size, config.scale_factor):
        raise ConfigError(
            f"--input-size {config.input_size} --scale-factor {config.scale_factor}: "
            f"the training people in {config.data_dir} are patches for crops of at "
            f"most {patch_size} px and the paper's zoom (made with --train-patch-size "
            f"{patch_size}); make the shards again with --train-patch-size 0 (whole "
            "images), or train within those bounds"
        )


def build_model(config, num_joints):
    """Builds the configured network (under the current strategy scope),
    rematerialised with `config.remat` (`training.remat`)."""
    model = build_stacked_hourglass(
        n_stacks=config.n_stacks,
        n_joints=num_joints,
        n_features=config.n_features,
        n_modules=config.n_modules,
        depth=config.depth,
        input_shape=(config.input_size, config.input_size, 3),
        intermediate_supervision=config.intermediate_supervision,
    )
    return rematerialize_stacks(model) if config.remat else model


def compile_model(model, config, optimizer=None):
    """Compiles with one masked heatmap MSE per stack output (summed). `optimizer`:
    the model's own, kept when compiling again after a change of `trainable`; its
    slots are built here for every weight, so backups keep one layout."""
    if optimizer is None:
        optimizer = wrap_optimizer_for_precision(
            make_optimizer(config.optimizer, config.learning_rate), config.precision
        )
    model.compile(
        optimizer=optimizer,
        loss=[joint_heatmap_mse for _ in model.output_names],
        jit_compile=config.jit_compile,
    )
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    return model


def make_datasets(
    config, metadata, train_files, valid_files, output_names, deterministic=False,
    counter=None,
):  # fmt: skip
    """Returns (training dataset, validation-loss dataset) for `model.fit`;
    `deterministic=True` fixes the order (multi-worker global batches)."""
    common = {
        "num_joints": metadata["num_joints"],
        "flip_pairs": metadata.get("flip_pairs", []),
        "batch_size": config.batch_size,
        "num_outputs": len(output_names),
        "input_size": config.input_size,
        "output_size": config.output_size,
        "sigma": config.sigma,
    }
    augmentation = AugmentationRanges(
        scale_factor=config.scale_factor,
        rotation_degrees=config.rotation_degrees,
        rotation_probability=config.rotation_probability,
        flip_probability=config.flip_probability,
        color_range=(config.color_low, config.color_high),
    )
    train_options = PipelineOptions(
        repeat=True,
        seed=config.seed,
        shuffle_buffer=config.shuffle_buffer,
        deterministic=deterministic,
        cache=config.cache_records,
    )
    train = make_dataset(
        train_files, training=True, augmentation=augmentation,
        options=train_options, counter=counter, **common,
    )  # fmt: skip
    valid = make_dataset(
        valid_files, training=False, options=PipelineOptions(deterministic=True),
        **common,
    )  # fmt: skip
    return train, valid


def steps_per_epoch(config, metadata):
    """The configured steps, or one pass over the training split."""
    if config.steps_per_epoch:
        return config.steps_per_epoch
    return max(1, metadata["splits"]["train"]["count"] // config.batch_size)
