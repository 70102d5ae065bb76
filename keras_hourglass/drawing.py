"""Skeleton overlays: the one drawing module, so a pose looks the same in
`evaluation.predict`, the evaluation grid and TensorBoard. Each person gets a
colour and a label; the body's left side is a light tint and its right side a
dark shade of it; lines are outlined in black to stay visible on any
background and at thumbnail size; low-scoring joints are faint, and
keypoints outside the image get a border triangle pointing at them.
"""

import numpy as np
import PIL.Image
import PIL.ImageDraw
import PIL.ImageFont

from keras_hourglass.predictor import inside_image

# Well separated hues (Tableau 10 order), readable on photos.
PERSON_COLOURS = (
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40),
    (148, 103, 189), (23, 190, 207), (227, 119, 194), (188, 189, 34),
    (140, 86, 75), (127, 127, 127),
)  # fmt: skip
FAINT_ALPHA = 80
LEFT, RIGHT, MIDDLE = "left", "right", "middle"
LEFT_PREFIXES, RIGHT_PREFIXES = ("l_", "left_", "left"), ("r_", "right_", "right")


def legend_text():
    """A one-line key for captions: which shade is which side."""
    return "light = left side, dark = right side, faint = low score, ▲ = outside"


def joint_side(name):
    """`left`, `right` or `middle` from a joint name's prefix."""
    name = name.lower()
    if name.startswith(LEFT_PREFIXES):
        return LEFT
    if name.startswith(RIGHT_PREFIXES):
        return RIGHT
    return MIDDLE


def limb_sides(joint_names, skeleton):
    """The side of every limb: one side when an end is on it and the other
    end is not on the opposite one (hip to hip: middle)."""
    sides = []
    for start, end in skeleton:
        pair = {joint_side(joint_names[start]), joint_side(joint_names[end])}
        one_sided = pair - {MIDDLE}
        sides.append(one_sided.pop() if len(one_sided) == 1 else MIDDLE)
    return sides


def side_colours(colour):
    """{side: RGB}: light tint (left), dark shade (right), the colour (middle)."""
    colour = np.asarray(colour, np.float64)
    return {
        LEFT: tuple(int(v) for v in colour + 0.55 * (255 - colour)),
        RIGHT: tuple(int(v) for v in 0.5 * colour),
        MIDDLE: tuple(int(v) for v in colour),
    }


def line_width_for(height, width):
    """Limb width in px: about 1/200 of the image diagonal, at least 1."""
    return max(1, int(round(np.hypot(height, width) / 200)))


def font_of_size(size):
    """Pillow's bundled font at `size` px (a bitmap font without FreeType)."""
    try:
        return PIL.ImageFont.load_default(size=max(8, int(size)))
    except (TypeError, ImportError, OSError):
        return PIL.ImageFont.load_default()


def border_marker(point, height, width, size):
    """A triangle just inside the border, pointing at the outside `point`."""
    x, y = point
    inner = np.clip([x, y], [size, size], [width - 1 - size, height - 1 - size])
    direction = np.array([x, y]) - inner
    direction = direction / max(np.hypot(*direction), 1e-6)
    normal = np.array([-direction[1], direction[0]])
    tip = inner + direction * size
    base = inner - direction * size * 0.6
    return [
        tuple(tip),
        tuple(base + normal * size * 0.8),
        tuple(base - normal * size * 0.8),
    ]


def _alpha(solid):
    return 255 if solid else FAINT_ALPHA


def draw_person(draw, keypoints, joint_names, skeleton, colour, width,
                shown, inside, image_size):  # fmt: skip
    """Draws one skeleton onto an RGBA `ImageDraw`: joints `shown` 0 (hidden),
    1 (faint) or 2 (solid), those not `inside` the (height, width) image as a
    border marker."""
    height, width_px = image_size
    colours = side_colours(colour)
    points = [tuple(float(v) for v in point) for point in keypoints]
    limbs = list(zip(skeleton, limb_sides(joint_names, skeleton)))
    # Black outlines first, then colours, so crossings stay readable.
    for outline in (True, False):
        for (start, end), side in limbs:
            level = min(shown[start], shown[end])
            if level == 0:
                continue
            fill = (0, 0, 0) if outline else colours[side]
            draw.line([points[start], points[end]],
                      fill=fill + (_alpha(level == 2),),
                      width=width + 2 if outline else width)  # fmt: skip
    radius = width + 1
    for index, (x, y) in enumerate(points):
        if shown[index] == 0:
            continue
        fill = colours[joint_side(joint_names[index])] + (_alpha(shown[index] == 2),)
        outline = (0, 0, 0, _alpha(shown[index] == 2))
        if inside[index]:
            box = [x - radius, y - radius, x + radius, y + radius]
            draw.ellipse(box, fill=fill, outline=outline, width=1)
        else:
            marker = border_marker((x, y), height, width_px, 3 * radius)
            draw.polygon(marker, fill=fill, outline=outline, width=1)


def draw_label(draw, text, anchor_xy, colour, font, image_size):
    """Draws `text` on a tag whose bottom-left corner is `anchor_xy`, moved
    inside the image (boxes often start above the top edge)."""
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    pad = max(1, (bottom - top) // 5)
    tag_width, tag_height = right - left + 2 * pad, bottom - top + 2 * pad
    x = float(np.clip(anchor_xy[0], 0, max(0, image_size[1] - tag_width)))
    y = float(np.clip(anchor_xy[1] - tag_height, 0, max(0, image_size[0] - tag_height)))
    draw.rectangle([x, y, x + tag_width, y + tag_height],
                   fill=tuple(colour) + (230,))  # fmt: skip
    text_colour = (0, 0, 0) if sum(colour) > 450 else (255, 255, 255)
    draw.text((x + pad - left, y + pad - top), text, fill=text_colour + (255,),
              font=font)  # fmt: skip


def draw_poses(image, keypoints, joint_names, skeleton, scores=None, boxes=None,
               labels=None, colours=None, score_threshold=0.2, low_score="faint",
               line_width=None):  # fmt: skip
    """Returns a uint8 copy of `image` (floats in [0, 1] are scaled) with
    every person's skeleton drawn.

    Args:
        keypoints: [P, K, 2] (x, y) px.
        joint_names: K names; their `l_`/`r_` prefixes set the sides.
        scores: [P, K] or None. Joints scoring below `score_threshold` are
            drawn faint or hidden (`low_score="hide"`).
        boxes: [P, 4] (x, y, w, h) or None; w <= 0 draws no box.
        labels: P strings, or None for "P1", "P2", ...; "" draws no label.
        colours: P RGB colours, or None for `PERSON_COLOURS` in turn.
    """
    canvas = np.asarray(image)
    if canvas.dtype != np.uint8:
        canvas = np.clip(np.asarray(canvas, np.float64) * 255.0, 0, 255).round()
    canvas = np.ascontiguousarray(canvas[..., :3], dtype=np.uint8)
    height, width = canvas.shape[:2]
    if len(joint_names) == 0:
        return canvas
    keypoints = np.asarray(keypoints, np.float64).reshape(-1, len(joint_names), 2)
    count = len(keypoints)
    scores = np.ones(keypoints.shape[:2]) if scores is None else np.asarray(scores)
    labels = [f"P{i + 1}" for i in range(count)] if labels is None else labels
    colours = colours or [PERSON_COLOURS[i % len(PERSON_COLOURS)] for i in range(count)]
    line_width = line_width or line_width_for(height, width)
    font = font_of_size(max(10, 5 * line_width + 4))
    layer = PIL.Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = PIL.ImageDraw.Draw(layer)
    inside = inside_image(keypoints, height, width)
    for person in range(count):
        colour = tuple(colours[person])
        # 0 hidden, 1 faint, 2 solid.
        solid = np.asarray(scores[person], np.float64) >= score_threshold
        shown = np.where(solid, 2, 0 if low_score == "hide" else 1)
        box = None if boxes is None else np.asarray(boxes[person], np.float64)
        if has_area(box):
            corners = [box[0], box[1], box[0] + box[2] - 1, box[1] + box[3] - 1]
            draw.rectangle(corners, outline=colour + (255,), width=line_width // 2 + 1)
        draw_person(draw, keypoints[person], joint_names, skeleton, colour,
                    line_width, shown, inside[person], (height, width))  # fmt: skip
        if labels[person]:
            anchor = label_anchor(
                box, keypoints[person], shown, inside[person], line_width
            )
            draw_label(draw, labels[person], anchor, colour, font, (height, width))
    composed = PIL.Image.alpha_composite(
        PIL.Image.fromarray(canvas).convert("RGBA"), layer
    )
    return np.array(composed.convert("RGB"))


def has_area(box):
    """True for an (x, y, w, h) box with positive sides (not "whole image")."""
    return box is not None and box[2] > 0 and box[3] > 0


def label_anchor(box, keypoints, shown, inside, line_width):
    """A person's label's place: its box's top-left corner, else above its
    highest drawn joint."""
    if has_area(box):
        return (float(box[0]), float(box[1]))
    drawn = (shown > 0) & inside
    if not drawn.any():
        return (0.0, 0.0)
    top = int(np.argmin(np.where(drawn, keypoints[:, 1], np.inf)))
    return (float(keypoints[top, 0]), float(keypoints[top, 1]) - 2 * line_width)


def side_by_side(panels, titles=None, gap=None):
    """Panels (uint8 [H, W, 3]) joined left to right, each under its title."""
    height = max(panel.shape[0] for panel in panels)
    gap = gap if gap is not None else max(2, height // 100)
    font = font_of_size(max(10, height // 22))
    strip = 0 if not titles else font.getbbox("Ag")[3] + 2 * max(2, height // 100)
    width = sum(panel.shape[1] for panel in panels) + gap * (len(panels) - 1)
    sheet = PIL.Image.new("RGB", (width, height + strip), (255, 255, 255))
    draw = PIL.ImageDraw.Draw(sheet)
    x = 0
    for index, panel in enumerate(panels):
        sheet.paste(PIL.Image.fromarray(np.asarray(panel, np.uint8)), (x, strip))
        if titles:
            draw.text((x + 2, max(1, height // 200)), titles[index], fill=(0, 0, 0),
                      font=font)  # fmt: skip
        x += panel.shape[1] + gap
    return np.array(sheet)


def draw_truth_beside_prediction(
    image, true_keypoints, true_annotated, keypoints, scores, joint_names,
    skeleton, score_threshold=0.2, titles=("ground truth", "prediction"),
):  # fmt: skip
    """The image twice side by side: annotated joints, then the prediction."""
    truth = draw_poses(
        image, true_keypoints, joint_names, skeleton,
        scores=np.asarray(true_annotated, np.float64),
        labels=[""] * len(true_keypoints), score_threshold=0.5, low_score="hide",
    )  # fmt: skip
    prediction = draw_poses(
        image, keypoints, joint_names, skeleton, scores=scores,
        labels=[""] * len(keypoints), score_threshold=score_threshold,
    )  # fmt: skip
    return side_by_side([truth, prediction], titles=titles)
