"""`evaluation.predict --video`: keypoints on every frame of a video.

    python -m evaluation.predict --model runs/demo --video clip.mp4 \
        --box 100,40,220,420 --out out/clip

Frames are read with imageio's FFMPEG plugin (imageio-ffmpeg ships its own
ffmpeg binary, so nothing is needed on the system). One person per frame:
the fixed `--box` (x, y, w, h in frame px, pixel edges at integers) or the
whole frame. Writes into `--out`:

    keypoints.csv / keypoints.json   one row / record per frame (`frame` column)
    overlay.mp4                      the video with the skeleton drawn (H.264)
"""

import logging
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
from tqdm import tqdm

from evaluation.predict_output import count_outside
from evaluation.predict_output import overlay_image
from evaluation.predict_output import people_of
from evaluation.predict_output import write_keypoint_files
from evaluation.predictors import make_predictor

logger = logging.getLogger("evaluation.predict")
OVERLAY_NAME = "overlay.mp4"


class VideoInputError(ValueError):
    """An unreadable video or a malformed `--box`."""


def parse_box(text):
    """Returns float32 [4] from "x,y,w,h"; None for no text (whole frame)."""
    if not text:
        return None
    try:
        values = np.array([float(part) for part in text.split(",")], np.float32)
    except ValueError:
        values = np.zeros(0)
    if values.shape != (4,) or not np.all(np.isfinite(values)):
        raise VideoInputError(f"--box {text!r}: expected four numbers x,y,w,h")
    return values


def open_video(path):
    """Returns (imageio reader, frames per second, frame count or None)."""
    path = Path(path)
    if not path.is_file():
        raise VideoInputError(f"{path}: no such video file")
    try:
        reader = imageio.get_reader(path, format="FFMPEG")
        meta = reader.get_meta_data()
    except (OSError, RuntimeError, ValueError) as error:
        raise VideoInputError(f"{path}: not a readable video ({error})") from None
    frames = meta.get("nframes")
    count = int(frames) if frames and np.isfinite(frames) else None
    return reader, float(meta.get("fps") or 25.0), count


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
    """Predicts every frame, writes the overlay video; returns the people
    (one dict per frame, see `evaluation.predict_output.people_of`)."""
    reader, fps, count = open_video(video_path)
    # H.264 in yuv420p needs even sides; block size 2 pads at most one pixel.
    writer = imageio.get_writer(
        Path(out_dir) / OVERLAY_NAME, format="FFMPEG", fps=fps, codec="libx264",
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
        raise VideoInputError(f"{video_path}: no frame could be read")
    return people


def run_video(args):
    """The `--video` branch of `evaluation.predict.main`; returns the exit code."""
    try:
        box = parse_box(args.box)
        open_video(args.video)[0].close()
    except VideoInputError as error:
        logger.error("%s", error)
        return 2
    predictor = make_predictor(args.model, flip_test=args.flip_test)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        people = predict_video(predictor, args.video, out_dir, box, args.batch_size,
                               args.score_threshold)  # fmt: skip
    except VideoInputError as error:
        logger.error("%s", error)
        return 2
    write_keypoint_files(out_dir, people, predictor.joint_set.joint_names)
    flagged, outside = count_outside(people)
    logger.info(
        "%d frames -> %s (%s); %d keypoints in %d frames lie outside the frame",
        len(people), out_dir, OVERLAY_NAME, outside, flagged,
    )  # fmt: skip
    return 0
