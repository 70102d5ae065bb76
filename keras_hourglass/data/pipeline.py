"""`tf.data` input pipelines for training and evaluation.

The chain (each step a small named function, graph ops only; the per-person
steps live side by side in `keras_hourglass.data.examples`):

    shards -> read each shard, counting records lost to damage (shard_reads)
    -> interleave records -> parse_person -> keep_usable_person
    (logged, counted skips) -> sample_augmentation -> prepare_training_example
    (decode the crop region, one affine warp, colours, render heatmaps) ->
    ignore_errors -> count_undecodable -> batch -> to_model_targets -> prefetch

`make_dataset` yields `(images, targets, joint_weights)` that `model.fit`
takes as is: targets and weights are tuples ordered like `model.outputs` (a
bare tensor for a one-output model). `make_eval_dataset` yields
`(images, meta)` for the evaluation program.
"""

import tensorflow as tf

from keras_hourglass.data.examples import keep_usable_person
from keras_hourglass.data.examples import prepare_eval_example
from keras_hourglass.data.examples import prepare_training_example
from keras_hourglass.data.examples import sample_augmentation
from keras_hourglass.data.metadata import list_shard_files
from keras_hourglass.data.shard_reads import ShardReadCounter
from keras_hourglass.data.skips import SkipCounter
from keras_hourglass.data.skips import count_undecodable
from keras_hourglass.data.tfrecords import parse_person
from keras_hourglass.transforms import OFFICIAL_TORCH

AUTOTUNE = tf.data.AUTOTUNE
CROP_METHODS = ("scaled", "reference")
__all__ = ["SkipCounter", "make_dataset", "make_eval_dataset"]


def read_records(
    files, *, shuffle_files, deterministic, cache, seed, read_counter=None
):
    """Returns a dataset of the serialized records in the shards; records lost
    to a damaged shard are counted in `read_counter` (see `shard_reads`)."""
    read_counter = read_counter or ShardReadCounter(files)
    indices = [read_counter.index_of(path) for path in files]
    dataset = tf.data.Dataset.from_tensor_slices((indices, files))
    if shuffle_files:
        dataset = dataset.shuffle(len(files), seed=seed)
    dataset = dataset.interleave(
        read_counter.read_shard,
        cycle_length=min(len(files), 4),
        num_parallel_calls=AUTOTUNE,
        deterministic=deterministic,
    )
    if cache:
        # Cache the compressed records, never the augmented crops.
        dataset = dataset.cache()
    return dataset


def decode_in_parallel(numbered_people, prepare, skip_counter):
    """Maps `prepare` over `(position, inputs)` in parallel, drops samples
    whose decode raised, and counts them.

    The map keeps its input order (whatever `deterministic` says) because the
    count of dropped samples comes from gaps in the positions that come out.
    """
    dataset = numbered_people.map(
        lambda position, inputs: (position, prepare(inputs)),
        num_parallel_calls=AUTOTUNE,
        deterministic=True,
    )
    dataset = dataset.ignore_errors(log_warning=True)
    return count_undecodable(dataset, skip_counter)


def to_model_targets(batch, num_outputs):
    """Returns `(images, targets, joint_weights)` in the structure of the
    model's outputs: a tuple of `num_outputs` (a bare tensor for one). Every
    stack is supervised with the same target (intermediate supervision).

    Tuples, not `{output name: ...}` dicts: Keras 3.15 matches dict targets
    to outputs by name but then looks dict sample weights up by position.
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
    rotation_degrees=30.0,
    rotation_probability=0.4,
    scale_factor=0.25,
    flip_probability=0.5,
    color_range=(0.6, 1.4),
    crop_method="scaled",
    intra_op_parallelism=1,
    deterministic=False,
    cache=False,
    repeat=False,
    shuffle_buffer=1024,
    drop_remainder=None,
    seed=None,
    skip_counter=None,
    read_counter=None,
):
    """Builds the training (or validation-loss) dataset for `model.fit`.

    Args:
        file_patterns: str or list of str. Glob patterns of TFRecord shards.
        num_joints: int. K; records with another joint count are skipped.
        flip_pairs: list of (left, right) joint indices swapped by a flip.
        training: bool. Shuffle and augment (pose-hg-train recipe) when True.
        batch_size: int. Samples per batch.
        num_outputs: int. The model's outputs, `len(model.outputs)`; each
            gets the same target and joint weights.
        input_size, output_size: int. Crop and heatmap sides (256, 64).
        sigma: float. Heatmap Gaussian standard deviation in heatmap px.
        rotation_degrees, rotation_probability, scale_factor,
        flip_probability, color_range: augmentation ranges (training only);
            see `keras_hourglass.data.examples`.
        crop_method: str. "scaled" decodes JPEG crop regions at a reduced
            DCT scale when they span at least twice the input size, and
            resizes unrotated crops from the nearest whole-pixel window
            (moved by under half a source px, targets made to match)
            instead of the projective warp; "reference" decodes at full
            resolution and warps every crop (the original path, 0.65-0.75x
            the samples per core). Defaults to "scaled".
        intra_op_parallelism: int or None. Threads one op of the per-sample
            steps may use. 1 (default): the parallel map already keeps every
            core busy with whole samples, and splitting a 256x256 warp
            across threads only adds overhead (~15% more samples per
            CPU-second with 1). None: TensorFlow's default.
        deterministic: bool. Interleave shards in a reproducible order.
        cache: bool. Cache the raw records in memory after the first pass.
        repeat: bool. Repeat forever (new augmentations every pass).
        shuffle_buffer: int. Record shuffle buffer when training (0: none).
        drop_remainder: bool. Defaults to `training`.
        seed: int or None. Seeds shuffling and augmentation.
        skip_counter: `SkipCounter` to collect skip counts. Defaults to a new one.
        read_counter: `ShardReadCounter` of the shards, counting records lost
            to damaged shards. Defaults to a new one.

    Returns:
        A dataset of `(images float32 [B, S, S, 3] in [0, 1], targets,
        joint_weights)`: `num_outputs` copies of the heatmaps float32
        [B, h, w, K] and of the weights float32 [B, K] (see
        `to_model_targets`), ready for `model.fit`.

    Example:

    ```python
    model = build_stacked_hourglass(n_stacks=2, n_joints=16)
    model.compile(optimizer="rmsprop", loss=joint_heatmap_mse)
    model.fit(make_dataset("data/train-*", 16, MPII_16.flip_pairs,
                           training=True, batch_size=8,
                           num_outputs=len(model.outputs)))
    ```
    """
    skip_counter = skip_counter or SkipCounter()
    if crop_method not in CROP_METHODS:
        raise ValueError(
            f"crop_method must be one of {CROP_METHODS}, not {crop_method!r}"
        )
    files = list_shard_files(file_patterns)
    flip_pairs = [tuple(pair) for pair in flip_pairs]
    if not training:
        # The neutral augmentation: no zoom, rotation, flip or colour change.
        scale_factor, rotation_degrees = 0.0, 0.0
        rotation_probability, flip_probability = 0.0, 0.0
        color_range = (1.0, 1.0)

    def prepare(inputs):
        person, seed = inputs
        augmentation = sample_augmentation(
            seed, scale_factor, rotation_degrees, rotation_probability,
            flip_probability, color_range,
        )  # fmt: skip
        return prepare_training_example(
            person, augmentation, skip_counter, num_joints=num_joints,
            flip_pairs=flip_pairs, input_size=input_size,
            output_size=output_size, sigma=sigma, crop_method=crop_method,
        )  # fmt: skip

    records = read_records(
        files,
        shuffle_files=training,
        deterministic=deterministic,
        cache=cache,
        seed=seed,
        read_counter=read_counter,
    )
    if repeat:
        records = records.repeat()
    if training and shuffle_buffer:
        records = records.shuffle(shuffle_buffer, seed=seed)
    # One stateless seed pair per sample, drawn after repeat so that every
    # epoch gets fresh augmentations yet a fixed `seed` reproduces them all.
    seeds = tf.data.Dataset.random(seed=seed).batch(2)
    dataset = tf.data.Dataset.zip((records, seeds))
    dataset = dataset.map(lambda record, pair: (parse_person(record), pair))
    dataset = dataset.filter(
        lambda person, pair: keep_usable_person(person, num_joints, skip_counter)
    )
    dataset = decode_in_parallel(dataset.enumerate(), prepare, skip_counter)
    if drop_remainder is None:
        drop_remainder = training
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    dataset = dataset.map(lambda batch: to_model_targets(batch, num_outputs))
    if intra_op_parallelism is not None:
        options = tf.data.Options()
        options.threading.max_intra_op_parallelism = intra_op_parallelism
        dataset = dataset.with_options(options)
    return dataset.prefetch(AUTOTUNE)


def make_eval_dataset(
    file_patterns,
    num_joints,
    *,
    batch_size,
    input_size=256,
    cache=False,
    skip_counter=None,
    crop_convention=None,
    read_counter=None,
):
    """Builds the evaluation dataset: no augmentation, records in file order,
    each person cropped with the evaluated model's `crop_convention`
    (`transforms.CropConvention`; None: ours, `OFFICIAL_TORCH`).

    Returns:
        A dataset of `(images float32 [B, S, S, 3], meta)`, with meta holding
        `center`, `scale` (as stored), `crop_matrix` [B, 3, 3] (original ->
        input px), `joints` [B, K, 2], `joints_annotated`, `joints_visible`
        [B, K], `head_box` [B, 4], `normalizer`, `image_id`, `person_index` [B].
    """
    skip_counter = skip_counter or SkipCounter()
    files = list_shard_files(file_patterns)
    dataset = read_records(
        files, shuffle_files=False, deterministic=True, cache=cache, seed=None,
        read_counter=read_counter,
    )  # fmt: skip
    dataset = dataset.map(parse_person)
    dataset = dataset.filter(
        lambda person: keep_usable_person(person, num_joints, skip_counter)
    )
    dataset = decode_in_parallel(
        dataset.enumerate(),
        lambda person: prepare_eval_example(
            person,
            skip_counter,
            num_joints=num_joints,
            input_size=input_size,
            crop_convention=crop_convention or OFFICIAL_TORCH,
        ),  # fmt: skip
        skip_counter,
    )
    return dataset.batch(batch_size).prefetch(AUTOTUNE)
