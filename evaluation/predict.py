"""Predicts keypoints on images with a trained or exported hourglass.

    python -m evaluation.predict --model exports/hourglass --images photos/ --out out/
    python -m evaluation.predict --model runs/demo/final.keras \
        --images a.jpg b.png --boxes boxes.csv --out out/
    python -m evaluation.predict --model http://localhost:8501/v1/models/hourglass \
        --images photos/ --out out/

    python -m evaluation.predict --model runs/demo --video clip.mp4 \
        --box 100,40,220,420 --out out/clip

`--model` is a SavedModel export (a version folder or its base path, latest
version), a `.keras` file or run directory, or a TF Serving REST model URL.
Prediction runs through `keras_hourglass.load_predictor`.
`--images` takes files and folders (their .jpg/.jpeg/.png files).
`--boxes` is a CSV with columns `image,x,y,w,h` (image: file name or path;
boxes in original px with pixel edges at integers; several rows per image
for several people); images without a row are used whole.

Writes `keypoints.csv`, `keypoints.json` (with a per-joint `inside` flag: 0
for a keypoint outside the image) and `overlays/<image>_pose.png` (drawn by
`keras_hourglass.drawing`) into `--out`. Unreadable images are logged and
counted. `--video` writes the same files with a `frame` column instead of
`image`, and `overlay.mp4` (see `evaluation.predict_video`).
"""

import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import tensorflow as tf
from tqdm import tqdm

from evaluation.predict_output import count_outside
from evaluation.predict_output import people_of
from evaluation.predict_output import write_keypoint_files
from evaluation.predict_output import write_overlay
from evaluation.predict_video import run_video
from evaluation.predictors import make_predictor
from keras_hourglass.data.decode import looks_like_complete_image
from keras_hourglass.data.jpeg_scan import jpeg_body_is_intact
from training.cli_flags import add_dataclass_flags
from training.cli_flags import option
from training.cli_flags import program_parser

logger = logging.getLogger("evaluation.predict")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
BOX_COLUMNS = ("image", "x", "y", "w", "h")


class PredictInputError(ValueError):
    """Bad command-line input (missing file, malformed boxes CSV)."""


def list_images(paths):
    """Returns image files from file and folder paths, folders sorted."""
    images = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(
                p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES
            )
            if not found:
                raise PredictInputError(f"{path}: folder holds no .jpg/.png image")
            images.extend(found)
        elif path.is_file():
            images.append(path)
        else:
            raise PredictInputError(f"{path}: no such image file or folder")
    return images


def read_boxes(csv_path, images):
    """Returns {image path: [boxes]} from the boxes CSV (see module doc).

    Raises PredictInputError naming the file for missing columns, non-finite
    values or a row whose image is not among `images`.
    """
    try:
        table = pd.read_csv(csv_path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise PredictInputError(f"{csv_path}: unreadable boxes CSV ({error})") from None
    missing = [column for column in BOX_COLUMNS if column not in table.columns]
    if missing:
        raise PredictInputError(f"{csv_path}: boxes CSV lacks columns {missing}")
    by_key = {}
    for image in images:
        by_key[str(image)] = by_key[image.name] = image
    boxes = {}
    for row_number, row in enumerate(table.itertuples(index=False), start=2):
        values = np.array([row.x, row.y, row.w, row.h], dtype=np.float64)
        if not np.all(np.isfinite(values)):
            raise PredictInputError(f"{csv_path} line {row_number}: non-finite box")
        if str(row.image) not in by_key:
            raise PredictInputError(
                f"{csv_path} line {row_number}: image {row.image!r} is not an input"
            )
        boxes.setdefault(by_key[str(row.image)], []).append(values.astype(np.float32))
    return boxes


def read_usable_images(images, skipped):
    """Returns {path: encoded bytes} of complete JPEG/PNG files; logs and
    counts (in `skipped`) the others."""
    usable = {}
    for path in images:
        data = path.read_bytes()
        complete = data and bool(
            looks_like_complete_image(tf.constant(data))
            and jpeg_body_is_intact(tf.constant(data))
        )
        if not complete:
            logger.warning(
                "skipping %s: empty, not JPEG/PNG, truncated or corrupt", path
            )
            skipped[str(path)] = "not a complete JPEG/PNG image"
            continue
        usable[path] = data
    return usable


def predict_people(predictor, encoded, boxes, batch_size):
    """Runs the predictor image by image (a progress bar per image); returns
    one dict per person, with the per-joint `inside` flag."""
    people = []
    paths = list(encoded)
    progress = tqdm(total=len(paths), desc="predict", unit="image")
    for start in range(0, len(paths), batch_size):
        chunk = paths[start : start + batch_size]
        poses = predictor(
            [encoded[path] for path in chunk],
            boxes=[boxes.get(path) for path in chunk],
            batch_size=batch_size,
        )
        for path, image_poses in zip(chunk, poses):
            people += people_of(image_poses, image=str(path))
        progress.update(len(chunk))
    progress.close()
    return people


def write_outputs(out_dir, people, encoded, joint_set, score_threshold):
    """Writes the keypoint files and one overlay per image."""
    overlays = Path(out_dir) / "overlays"
    overlays.mkdir(parents=True, exist_ok=True)
    write_keypoint_files(out_dir, people, joint_set.joint_names)
    for path, data in encoded.items():
        image = tf.io.decode_image(data, channels=3, expand_animations=False).numpy()
        mine = [person for person in people if person["image"] == str(path)]
        write_overlay(
            overlays / f"{path.stem}_pose.png", image, mine, joint_set, score_threshold
        )


@dataclass
class PredictConfig:
    """Everything one prediction command depends on."""

    model: str = option("", "SavedModel, .keras or URL")
    images: list[str] | None = option(None, "image files/folders")
    video: str | None = option(None, "a video file (mp4, avi, mov, ...)")
    boxes: str | None = option(None, "CSV with columns image,x,y,w,h")
    box: str | None = option(
        None, "video: one fixed box x,y,w,h in frame px (default: whole frame)"
    )
    score_threshold: float = option(
        0.2, "overlays: joints scoring less are drawn faint"
    )
    out: str = option("", "output folder")
    batch_size: int = option(8)
    flip_test: bool = option(True, ".keras models: test-time flip")


def parse_arguments(argv):
    """Parses `argv` into a `PredictConfig` (`--images` or `--video`)."""
    parser = program_parser("evaluation.predict", __doc__.split("\n\n")[0])
    add_dataclass_flags(
        parser, PredictConfig, required=("model", "out"), one_of=("images", "video")
    )
    return PredictConfig(**vars(parser.parse_args(argv)))


def main(argv=None):
    """Runs the command; returns the process exit code."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    args = parse_arguments(argv)
    if args.video:
        return run_video(args)
    try:
        images = list_images(args.images)
        boxes = read_boxes(args.boxes, images) if args.boxes else {}
    except PredictInputError as error:
        logger.error("%s", error)
        return 2
    skipped = {}
    encoded = read_usable_images(images, skipped)
    if not encoded:
        logger.error("no usable image among %d inputs", len(images))
        return 2
    predictor = make_predictor(args.model, flip_test=args.flip_test)
    people = predict_people(predictor, encoded, boxes, args.batch_size)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    write_outputs(args.out, people, encoded, predictor.joint_set, args.score_threshold)
    flagged, outside = count_outside(people)
    logger.info(
        "%d people in %d images -> %s; %d images skipped; %d keypoints of %d "
        "people lie outside their image (column <joint>_inside = 0)",
        len(people), len(encoded), args.out, len(skipped), outside, flagged,
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
