"""Predicts keypoints on images with a trained or exported hourglass.

    python -m evaluation.predict --model exports/hourglass --images photos/ --out out/
    python -m evaluation.predict --model runs/demo/final.keras \
        --images a.jpg b.png --boxes boxes.csv --out out/
    python -m evaluation.predict --model runs/demo --video clip.mp4 \
        --box 100,40,220,420 --out out/clip

Images take their people from `--boxes` (CSV `image,x,y,w,h`, pixel edges at
integers) or `--detections` (`evaluation.detections`), else are used whole;
`--video` takes one fixed `--box` or the whole frame. Unusable images and boxes
are counted and reported, never stop the batch. Files written: docs/serving.md.
"""

import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import pandas as pd
import skimage.io
import tensorflow as tf
from tqdm import tqdm

from evaluation.detections import describe_skipped
from evaluation.detections import group_by_image
from evaluation.detections import read_detections_file
from evaluation.detections import usable_detections
from evaluation.ground_truth import EvaluationInputError
from evaluation.run_directory import make_predictor
from keras_hourglass.data.image_checks import image_problem
from keras_hourglass.data.image_checks import upright_image_bytes
from keras_hourglass.drawing import draw_poses
from keras_hourglass.files import write_json_atomically
from keras_hourglass.predictor import encoded_image_size
from keras_hourglass.serving.client import ServingError
from keras_hourglass.serving.inputs import image_size_problem
from training.cli_flags import add_dataclass_flags
from training.cli_flags import option
from training.cli_flags import program_parser
from training.programs import file_system_problem
from training.programs import run_main

logger = logging.getLogger("evaluation.predict")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
BOX_COLUMNS = ("image", "x", "y", "w", "h")
OVERLAY_VIDEO_NAME = "overlay.mp4"


def list_images(paths, skipped):
    """The image files of file and folder paths, folders sorted; a folder's
    other (not hidden) files are logged and counted in `skipped`."""
    images = []
    for path in map(Path, paths):
        if path.is_dir():
            files = sorted(
                p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")
            )
            found = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
            if not found:
                raise EvaluationInputError(f"{path}: folder holds no .jpg/.png image")
            for other in sorted(set(files) - set(found)):
                logger.warning("skipping %s: not a .jpg/.jpeg/.png file", other)
                skipped[str(other)] = "not a JPEG/PNG file"
            images.extend(found)
        elif path.is_file():
            images.append(path)
        else:
            raise EvaluationInputError(f"{path}: no such image file or folder")
    return images


def read_boxes(csv_path, images):
    """{image path: [boxes]} of the boxes CSV; a bad row is an error naming it."""
    try:
        table = pd.read_csv(csv_path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise EvaluationInputError(
            f"{csv_path}: unreadable boxes CSV ({error})"
        ) from None
    missing = [column for column in BOX_COLUMNS if column not in table.columns]
    if missing:
        raise EvaluationInputError(f"{csv_path}: boxes CSV lacks columns {missing}")
    by_key = image_keys(images)
    boxes = {}
    for row_number, row in enumerate(table.itertuples(index=False), start=2):
        values = np.array([row.x, row.y, row.w, row.h], dtype=np.float64)
        if not np.all(np.isfinite(values)):
            raise EvaluationInputError(f"{csv_path} line {row_number}: non-finite box")
        if str(row.image) not in by_key:
            raise EvaluationInputError(
                f"{csv_path} line {row_number}: image {row.image!r} is not an input"
            )
        boxes.setdefault(by_key[str(row.image)], []).append(values.astype(np.float32))
    return boxes


def image_keys(images):
    """{key: image path} by which a detections file may name an image: its
    path, its file name, and the number a numbered file name holds."""
    keys = {}
    for image in images:
        keys[str(image)] = keys[image.name] = image
        if image.stem.isdigit():
            keys[int(image.stem)] = image
    return keys


def read_detection_boxes(path, images, score_threshold):
    """({image path: [boxes]}, {skip reason: count}) of a detections file."""
    usable, skipped = usable_detections(read_detections_file(path), score_threshold)
    keys = image_keys(images)
    grouped = group_by_image(
        usable, keys.get, skipped, missing="image not among the inputs"
    )
    boxes = {image: [np.asarray(d.box, np.float32) for d in found]
             for image, found in grouped.items()}  # fmt: skip
    return boxes, skipped


def read_usable_images(images, skipped):
    """{path: encoded bytes} of complete JPEG/PNG files within the served
    size limits; the others are logged and counted in `skipped`."""
    usable = {}
    for path in images:
        data = path.read_bytes()
        problem = image_problem(data)
        if problem is None:
            data = upright_image_bytes(data)  # keypoints in upright coordinates
            problem = image_size_problem(*encoded_image_size(data, str(path)))
        if problem is not None:
            logger.warning("skipping %s: %s", path, problem)
            skipped[str(path)] = problem
            continue
        usable[path] = data
    return usable


def predict_people(predictor, encoded, boxes, batch_size, boxed_only=False):
    """One dict per person (`people_of`) of every image; with `boxed_only`
    an image without boxes has nobody in it (a detector found no one)."""
    people = []
    paths = [path for path in encoded if not boxed_only or path in boxes]
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
    """Writes the keypoint files and one overlay PNG per image."""
    overlays = Path(out_dir) / "overlays"
    overlays.mkdir(parents=True, exist_ok=True)
    write_keypoint_files(out_dir, people, joint_set.joint_names)
    for path, data in encoded.items():
        image = tf.io.decode_image(data, channels=3, expand_animations=False).numpy()
        mine = [person for person in people if person["image"] == str(path)]
        drawn = overlay_image(image, mine, joint_set, score_threshold)
        skimage.io.imsave(
            overlays / f"{path.stem}_pose.png", drawn, check_contrast=False
        )


# === Keypoint files and overlays ===


def people_of(poses, **where):
    """One dict per person of a `Poses`, tagged with `where` (`image`/`frame`)."""
    return [
        {**where, "person": index, "box": poses.boxes[index],
         "keypoints": poses.keypoints[index], "scores": poses.scores[index],
         "inside": poses.inside[index]}
        for index in range(len(poses))
    ]  # fmt: skip


def count_outside(people):
    """(people with a keypoint outside their image, such keypoints)."""
    outside = [int((~np.asarray(person["inside"])).sum()) for person in people]
    return sum(1 for count in outside if count), sum(outside)


def write_keypoint_files(out_dir, people, joint_names):
    """Writes `keypoints.csv` (one flat row per person) and `keypoints.json`."""
    rows, records = [], []
    for person in people:
        where = {key: person[key] for key in ("image", "frame") if key in person}
        where["person"] = person["person"]
        box = person["box"]
        row = {**where, **dict(zip(("box_x", "box_y", "box_w", "box_h"), box))}
        keypoints = {}
        for name, (x, y), score, inside in zip(
            joint_names, person["keypoints"], person["scores"], person["inside"]
        ):
            row.update({f"{name}_x": x, f"{name}_y": y, f"{name}_score": score,
                        f"{name}_inside": int(inside)})  # fmt: skip
            keypoints[name] = [float(x), float(y), float(score), int(inside)]
        rows.append(row)
        records.append(
            {**where, "box": [float(v) for v in box], "keypoints": keypoints}
        )
    pd.DataFrame(rows).to_csv(Path(out_dir) / "keypoints.csv", index=False)
    write_json_atomically(Path(out_dir) / "keypoints.json", records, indent=1)


def overlay_image(image, people, joint_set, score_threshold=0.2):
    """uint8 `image` with the people's boxes, labels and skeletons drawn."""
    if not people:
        return np.asarray(image[..., :3], np.uint8)
    return draw_poses(
        image, np.stack([person["keypoints"] for person in people]),
        joint_set.joint_names, joint_set.skeleton,
        scores=np.stack([person["scores"] for person in people]),
        boxes=np.stack([person["box"] for person in people]),
        labels=[f"P{person['person'] + 1}" for person in people],
        score_threshold=score_threshold,
    )  # fmt: skip


# === Video ===


def parse_box(text):
    """float32 [4] from "x,y,w,h"; None for no text (whole frame)."""
    if not text:
        return None
    try:
        values = np.array([float(part) for part in text.split(",")], np.float32)
    except ValueError:
        values = np.zeros(0)
    if values.shape != (4,) or not np.all(np.isfinite(values)):
        raise EvaluationInputError(f"--box {text!r}: expected four numbers x,y,w,h")
    return values


def open_video(path):
    """(imageio reader, frames per second, frame count or None)."""
    path = Path(path)
    if not path.is_file():
        raise EvaluationInputError(f"{path}: no such video file")
    try:
        reader = imageio.get_reader(path, format="FFMPEG")
        meta = reader.get_meta_data()
    except (OSError, RuntimeError, ValueError) as error:
        raise EvaluationInputError(f"{path}: not a readable video ({error})") from None
    return reader, float(meta.get("fps") or 25.0), video_frame_count(reader, meta)


def video_frame_count(reader, meta):
    """The frame count for the progress bar, or None: ffmpeg counts packets
    (FFMPEG metadata has no count), else duration x fps estimates it."""
    try:
        return int(reader.count_frames())
    except (OSError, RuntimeError, ValueError, AttributeError):
        pass
    duration, fps = meta.get("duration"), meta.get("fps")
    if duration and fps and np.isfinite(duration * fps):
        return max(1, round(duration * fps))
    return None


def frame_batches(reader, batch_size):
    """Yields lists of up to `batch_size` uint8 [H, W, 3] frames."""
    batch = []
    for frame in reader:
        batch.append(np.ascontiguousarray(frame[..., :3], dtype=np.uint8))
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def predict_video(predictor, video_path, out_dir, box=None, batch_size=8,
                  score_threshold=0.2):  # fmt: skip
    """Predicts every frame and writes the overlay video; returns the people."""
    reader, fps, count = open_video(video_path)
    # H.264 in yuv420p needs even sides; block size 2 pads at most one pixel.
    writer = imageio.get_writer(
        Path(out_dir) / OVERLAY_VIDEO_NAME, format="FFMPEG", fps=fps, codec="libx264",
        macro_block_size=2, quality=7,
    )  # fmt: skip
    people, frame_number = [], 0
    progress = tqdm(total=count, desc="predict video", unit="frame")
    try:
        for frames in frame_batches(reader, batch_size):
            poses = predictor(frames, boxes=[box] * len(frames), batch_size=batch_size)
            for frame, frame_poses in zip(frames, poses):
                mine = people_of(frame_poses, frame=frame_number)
                people += mine
                drawn = overlay_image(frame, mine, predictor.joint_set, score_threshold)
                writer.append_data(drawn)
                frame_number += 1
            progress.update(len(frames))
    finally:
        progress.close()
        writer.close()
        reader.close()
    if not people:
        raise EvaluationInputError(f"{video_path}: no frame could be read")
    return people


def run_video(args):
    """The `--video` branch of `main`: every frame and an overlay video."""
    box = parse_box(args.box)
    open_video(args.video)[0].close()
    predictor = make_predictor(args.model, flip_test=args.flip_test)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    people = predict_video(predictor, args.video, out_dir, box, args.batch_size,
                           args.score_threshold)  # fmt: skip
    write_keypoint_files(out_dir, people, predictor.joint_set.joint_names)
    flagged, outside = count_outside(people)
    logger.info(
        "%d frames -> %s (%s); %d keypoints in %d frames lie outside the frame",
        len(people), out_dir, OVERLAY_VIDEO_NAME, outside, flagged,
    )  # fmt: skip


def run_images(args):
    """The `--images` branch of `main`: keypoints and an overlay per image."""
    if args.box:
        raise EvaluationInputError(
            "--box is for --video; give the boxes of --images as a CSV "
            "with --boxes (columns image,x,y,w,h)"
        )
    if args.boxes and args.detections:
        raise EvaluationInputError("pass --boxes or --detections, not both")
    skipped = {}
    images = list_images(args.images, skipped)
    boxes = read_boxes(args.boxes, images) if args.boxes else {}
    if args.detections:
        boxes, detection_skips = read_detection_boxes(
            args.detections, images, args.detection_score_threshold
        )
    encoded = read_usable_images(images, skipped)
    if not encoded:
        raise EvaluationInputError(f"no usable image among {len(images)} inputs")
    predictor = make_predictor(args.model, flip_test=args.flip_test)
    people = predict_people(
        predictor, encoded, boxes, args.batch_size, boxed_only=bool(args.detections)
    )
    if args.detections:
        used = sum(len(found) for found in boxes.values())
        logger.info(
            "--detections %s: %d detections used, %s", args.detections, used,
            describe_skipped(detection_skips),
        )  # fmt: skip
    write_outputs(args.out, people, encoded, predictor.joint_set, args.score_threshold)
    flagged, outside = count_outside(people)
    logger.info(
        "%d people in %d images -> %s; %d images skipped; %d keypoints of %d "
        "people lie outside their image (column <joint>_inside = 0)",
        len(people), len(encoded), args.out, len(skipped), outside, flagged,
    )  # fmt: skip


@dataclass
class PredictConfig:
    """Everything one prediction command depends on."""

    model: str = option("", "SavedModel, .keras, .tflite, .onnx or URL")
    images: list[str] | None = option(None, "image files/folders")
    video: str | None = option(None, "a video file (mp4, avi, mov, ...)")
    boxes: str | None = option(None, "CSV with columns image,x,y,w,h")
    detections: str | None = option(
        None, "a person detector's boxes: COCO results JSON (image_id: file "
        "name, or the number of a numbered file)",
    )  # fmt: skip
    detection_score_threshold: float = option(
        0.0, "--detections: skip boxes scoring less", minimum=0
    )
    box: str | None = option(
        None, "video: one fixed box x,y,w,h in frame px (default: whole frame)"
    )
    score_threshold: float = option(
        0.2, "overlays: joints scoring less are drawn faint", minimum=0
    )
    out: str = option("", "output folder")
    batch_size: int = option(8, minimum=1)
    flip_test: bool = option(True, ".keras models: test-time flip")


def parse_arguments(argv):
    """Parses `argv` into a `PredictConfig`."""
    parser = program_parser("evaluation.predict", __doc__.split("\n\n")[0])
    add_dataclass_flags(
        parser, PredictConfig, required=("model", "out"), one_of=("images", "video")
    )
    return PredictConfig(**vars(parser.parse_args(argv)))


def main(argv=None):
    """Runs the command; a user mistake is one logged line and exit status 2."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    args = parse_arguments(argv)
    run = run_video if args.video else run_images
    try:
        run(args)
    except (FileNotFoundError, ValueError, ServingError) as error:
        if file_system_problem(error):  # e.g. the output folder: run_main's line
            raise
        logger.error("%s", error)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
