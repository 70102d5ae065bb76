"""`tf.data` input pipelines for training and evaluation.

The chain, each step a small named function of graph ops (the per-person
steps live side by side in `keras_hourglass.data.examples`):

    shards -> read_records (records lost to a damaged shard are counted)
    -> shuffle -> one augmentation seed per record
    -> parse_person -> checked_person -> sample_augmentation ->
       prepare_training_example, in parallel (a record that fails is
       dropped and counted) -> batch -> to_model_targets -> prefetch

Both pipelines count what they cannot read in one `RecordCounter`.
"""

from dataclasses import dataclass

import tensorflow as tf

from keras_hourglass.data.counter import RecordCounter
from keras_hourglass.data.examples import NO_AUGMENTATION
from keras_hourglass.data.examples import PAPER_AUGMENTATION
from keras_hourglass.data.examples import prepare_eval_example
from keras_hourglass.data.examples import prepare_training_example
from keras_hourglass.data.examples import sample_augmentation
from keras_hourglass.data.metadata import list_shard_files
from keras_hourglass.data.tfrecords import checked_person
from keras_hourglass.data.tfrecords import parse_person
from keras_hourglass.transforms import OFFICIAL_TORCH

AUTOTUNE = tf.data.AUTOTUNE


@dataclass(frozen=True)
class PipelineOptions:
    """How `make_dataset` runs; none of these changes what a sample is.

    `shuffle_buffer` (records, 0: none) applies when training; `cache` keeps the
    raw records in memory. `intra_op_parallelism` is 1: the parallel map keeps
    every core busy with whole samples (None: TensorFlow's default).
    """

    repeat: bool = False
    seed: int = None
    shuffle_buffer: int = 1024
    deterministic: bool = False
    cache: bool = False
    intra_op_parallelism: int = 1


def read_records(files, counter, *, shuffle_files, deterministic, cache, seed):
    """Returns a dataset of the serialized records in the shards; records lost
    to a damaged shard are counted in `counter`."""
    indices = [counter.index_of(path) for path in files]
    dataset = tf.data.Dataset.from_tensor_slices((indices, files))
    if shuffle_files:
        dataset = dataset.shuffle(len(files), seed=seed)
    dataset = dataset.interleave(
        counter.read_shard,
        cycle_length=min(len(files), 4),
        num_parallel_calls=AUTOTUNE,
        deterministic=deterministic,
    )
    if cache:
        # Cache the compressed records, never the augmented crops.
        dataset = dataset.cache()
    return dataset


def to_model_targets(batch, num_outputs):
    """Returns `(images, targets, joint_weights)` shaped as the model's outputs,
    every stack with the same target (intermediate supervision). Tuples, not
    dicts: Keras 3.15 matches dict targets by name but dict weights by position.
    """
    if num_outputs == 1:
        return batch["image"], batch["heatmaps"], batch["weights"]
    targets = tuple(batch["heatmaps"] for _ in range(num_outputs))
    weights = tuple(batch["weights"] for _ in range(num_outputs))
    return batch["image"], targets, weights


def make_dataset(
    file_patterns,
    num_joints,
    flip_pairs,
    *,
    training,
    batch_size,
    num_outputs,
    input_size=256,
    output_size=64,
    sigma=1.0,
    augmentation=PAPER_AUGMENTATION,
    options=PipelineOptions(),
    counter=None,
):
    """Builds the training (or validation-loss) dataset for `model.fit`.

    Args:
        file_patterns: str or list of str. Glob patterns of TFRecord shards.
        num_joints: int. K; a record with another count is dropped, counted.
        flip_pairs: (left, right) joint indices swapped by a flip.
        training: bool. Shuffle and augment (`augmentation`) when True.
        num_outputs: int. `len(model.outputs)`; each gets the same target.
        input_size, output_size: int. Crop and heatmap sides (256, 64).
        sigma: float. Heatmap Gaussian standard deviation in heatmap px.
        counter: `RecordCounter` of the shards (default: a new one).

    Returns:
        A dataset of `(images float32 [B, S, S, 3] in [0, 1], targets,
        joint_weights)`: `num_outputs` copies of the heatmaps [B, h, w, K] and
        of the weights [B, K] (`to_model_targets`), as README's example fits.
    """
    files = list_shard_files(file_patterns)
    counter = counter or RecordCounter(files)
    flip_pairs = [tuple(pair) for pair in flip_pairs]
    ranges = augmentation if training else NO_AUGMENTATION

    def prepare(record, seed):
        person = checked_person(parse_person(record), num_joints)
        return prepare_training_example(
            person, sample_augmentation(seed, ranges),
            num_joints=num_joints, flip_pairs=flip_pairs, input_size=input_size,
            output_size=output_size, sigma=sigma,
        )  # fmt: skip

    records = read_records(
        files, counter, shuffle_files=training, deterministic=options.deterministic,
        cache=options.cache, seed=options.seed,
    )  # fmt: skip
    if options.repeat:
        records = records.repeat()
    if training and options.shuffle_buffer:
        records = records.shuffle(options.shuffle_buffer, seed=options.seed)
    # One stateless seed pair per sample, drawn after repeat so that every
    # epoch gets fresh augmentations yet a fixed seed reproduces them all.
    seeds = tf.data.Dataset.random(seed=options.seed).batch(2)
    dataset = counter.map_and_count(
        tf.data.Dataset.zip((records, seeds)), lambda pair: prepare(*pair)
    )
    # Training drops the last incomplete batch.
    dataset = dataset.batch(batch_size, drop_remainder=training)
    dataset = dataset.map(lambda batch: to_model_targets(batch, num_outputs))
    if options.intra_op_parallelism is not None:
        threading = tf.data.Options()
        threading.threading.max_intra_op_parallelism = options.intra_op_parallelism
        dataset = dataset.with_options(threading)
    return dataset.prefetch(AUTOTUNE)


def make_eval_dataset(
    file_patterns,
    num_joints,
    *,
    batch_size,
    input_size=256,
    crop_convention=OFFICIAL_TORCH,
    cache=False,
    counter=None,
):
    """Builds the evaluation dataset: no augmentation, records in file order,
    each person cut with the reference crop and the evaluated model's
    `crop_convention` (`transforms.CropConvention`; None: ours).

    Returns:
        A dataset of `(images float32 [B, S, S, 3], meta)`, with meta holding
        `center`, `scale` (as stored), `crop_matrix` [B, 3, 3] (original ->
        input px), `joints` [B, K, 2], `joints_annotated`, `joints_visible`
        [B, K], `head_box` [B, 4], `normalizer`, `image_id`, `person_index` [B].
    """
    files = list_shard_files(file_patterns)
    counter = counter or RecordCounter(files)
    convention = crop_convention or OFFICIAL_TORCH
    records = read_records(
        files, counter, shuffle_files=False, deterministic=True, cache=cache,
        seed=None,
    )  # fmt: skip
    dataset = counter.map_and_count(
        records,
        lambda record: prepare_eval_example(
            checked_person(parse_person(record), num_joints),
            num_joints=num_joints, input_size=input_size,
            crop_convention=convention,
        ),  # fmt: skip
    )
    return dataset.batch(batch_size).prefetch(AUTOTUNE)
