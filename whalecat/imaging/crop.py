"""Locating the fluke in a photo with classical image processing, cheaply and without a model.

A fluke is a large region that differs from the water and sky around it, so its pixels stand
out from the frame's border. The saliency of each pixel is its distance from the median of the
border, in grayscale after a blur that removes wave texture. Otsu's threshold splits that into
fluke and background. The box surrounds the largest connected region, favoured in the upper
and middle part of the frame where photographers put the fluke, together with every region at
least UNION_SHARE of its size: a white underside over white water often splits into two lobes,
and a box around one of them loses the other. Anything implausible falls back to the whole
image, which every matcher handles anyway.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np
from PIL import Image

from whalecat.imaging.io import ImageError

log = logging.getLogger(__name__)

WORK_SIDE = 256  # pixels on the longer side while searching; boxes are scaled back
MARGIN = 0.10  # of the box's size, added on each side so the trailing edge and tips are kept
# Regions at least this share of the largest one's weight join its box. Chosen by eye on two
# sheets of 48 fluke photos each: clearly wrong boxes fell from 9 and 6 to 2 and 3.
UNION_SHARE = 0.3
MIN_AREA = 0.04  # boxes smaller than this fraction of the frame are rejected
# The shortest side, in pixels, of a photo that `locate_fluke` searches and of a box that the
# crop editor's keys shrink. The networks scale each crop to a fixed input (100x100 for the
# seed CNN), so a smaller box would be mostly blur there.
MIN_SIDE = 16
CAPTION_STD = 12.0  # a row strip this uniform at the bottom is treated as a caption band

Box = tuple[int, int, int, int]


def check_size(path, image: Image.Image) -> None:
    """Raise ImageError for a photo too small to crop or match, such as an icon or a sliver."""
    width, height = image.size
    if min(width, height) < MIN_SIDE:
        raise ImageError(
            path,
            f"too small to identify a whale ({width}x{height} pixels); use a photo at least "
            f"{MIN_SIDE} pixels on each side",
        )


def whole_image(image: Image.Image) -> Box:
    return (0, 0, image.width, image.height)


def locate_fluke(image: Image.Image) -> Box:
    """Return the fluke's box `(left, top, right, bottom)` in upright pixels.

    Returns the whole image when no region is salient and large enough to be a fluke.
    NOTE: a fluke with a white underside over white water can still be boxed badly (only the
    splash, or a lobe cut short), which is why the user can adjust the crop.
    """
    gray = np.asarray(image.convert("L"), dtype=np.uint8)
    height, width = gray.shape
    if min(height, width) < MIN_SIDE:
        return whole_image(image)
    scale = WORK_SIDE / max(height, width)
    small = cv2.resize(gray, (max(int(width * scale), 8), max(int(height * scale), 8)),
                       interpolation=cv2.INTER_AREA)
    content_bottom = _caption_top(small)
    box = _salient_box(small[:content_bottom])
    if box is None:
        return whole_image(image)
    left, top, right, bottom = box
    return (
        max(int(left / scale), 0),
        max(int(top / scale), 0),
        min(int(np.ceil(right / scale)), width),
        min(int(np.ceil(bottom / scale)), height),
    )


def _caption_top(gray: np.ndarray) -> int:
    """Return the first row of a burned-in caption band at the bottom, or the height if none.

    A caption band is a run of bottom rows of one flat colour with text in it. Such rows
    have a median far from the photo's and a small interquartile range, because the text
    covers only a few pixels of each row.
    """
    height = gray.shape[0]
    photo_median = float(np.median(gray[: height // 2]))
    row = height
    while row > height * 0.75:
        line = gray[row - 1]
        flat = np.percentile(line, 75) - np.percentile(line, 25) < CAPTION_STD
        if not (flat and abs(float(np.median(line)) - photo_median) > 40):
            break
        row -= 1
    return row if height - row >= 3 else height


def _salient_box(gray: np.ndarray) -> Box | None:
    height, width = gray.shape
    blurred = cv2.GaussianBlur(gray, (0, 0), sigmaX=max(width, height) / 80)
    border = np.concatenate([blurred[0], blurred[-1], blurred[:, 0], blurred[:, -1]])
    saliency = np.abs(blurred.astype(np.int16) - int(np.median(border))).astype(np.uint8)
    if int(saliency.max()) < 20:
        return None
    _, mask = cv2.threshold(saliency, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel)
    count, _, stats, centroids = cv2.connectedComponentsWithStats(mask)
    if count <= 1:
        return None

    # Regions whose centre is in the bottom fifth (spray, wake, captions) weigh half.
    labels = range(1, count)
    weights = [stats[label][4] * (0.5 if centroids[label][1] / height > 0.8 else 1.0) for label in labels]
    chosen = [label for label, weight in zip(labels, weights) if weight >= UNION_SHARE * max(weights)]
    x, y, w, h = (stats[chosen][:, column] for column in range(4))
    left, top, right, bottom = int(x.min()), int(y.min()), int((x + w).max()), int((y + h).max())
    box_w, box_h = right - left, bottom - top
    if box_w * box_h < MIN_AREA * width * height or box_w < box_h * 0.6:
        # Too small to be a fluke, or a tall sliver: most likely water or a reflection.
        return None
    dx, dy = int(box_w * MARGIN), int(box_h * MARGIN)
    return (max(left - dx, 0), max(top - dy, 0), min(right + dx, width), min(bottom + dy, height))
