"""The one preprocessing path shared by training, identification and previews.

The seed CNN's input: grayscale, resized to 100x100 with one channel, then each image
normalized on its own to zero mean and unit variance.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import numpy as np
from PIL import Image

SEED_INPUT_SIZE = (100, 100)  # (width, height) in pixels
# A constant image has standard deviation 0; dividing by this floor leaves it all zeros.
MIN_STD = 1e-6


def to_grayscale(image: Image.Image) -> Image.Image:
    return image if image.mode == "L" else image.convert("L")


def normalize(pixels: np.ndarray) -> np.ndarray:
    """Return `pixels` as float32 minus its mean, divided by its standard deviation."""
    values = pixels.astype(np.float32)
    centred = values - values.mean()
    return centred / max(float(values.std()), MIN_STD)


def network_pixels(
    image: Image.Image,
    crop: tuple[int, int, int, int] | None = None,
    size: tuple[int, int] = SEED_INPUT_SIZE,
    channels: int = 1,
) -> np.ndarray:
    """Return the photo cut to `crop` and resized to `size`, as uint8 pixels.

    Grayscale gives (height, width); `channels=3` gives (height, width, 3) in RGB. Every
    network input starts from these pixels, and the input cache stores them, so a cached
    input and a freshly computed one are the same. `crop` is `(left, top, right, bottom)` in
    upright pixels; the box is stretched to `size` without padding.
    """
    if crop is not None:
        image = image.crop(crop)
    converted = to_grayscale(image) if channels == 1 else image.convert("RGB")
    return np.asarray(converted.resize(size, Image.Resampling.BILINEAR), dtype=np.uint8)


def seed_from_pixels(pixels: np.ndarray) -> np.ndarray:
    """Return the seed CNN input, (height, width, 1) float32, from `network_pixels`."""
    return normalize(pixels)[:, :, np.newaxis]


def seed_input(image: Image.Image, size: tuple[int, int] = SEED_INPUT_SIZE) -> np.ndarray:
    """Return the network input for an upright photo: shape (height, width, 1), float32."""
    return seed_from_pixels(network_pixels(image, None, size))


THUMBNAIL_SIDE = 256  # pixels on the longer side of a catalogue's stored previews


def thumbnail(image: Image.Image, max_side: int = THUMBNAIL_SIDE) -> Image.Image:
    """Return a copy no larger than `max_side` on its longer side, for previews."""
    copy = image.copy()
    copy.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return copy


def save_thumbnail(upright: Image.Image, target: Path) -> None:
    """Write the preview of an upright photo to `target` as a JPEG, whole or not at all."""
    target.parent.mkdir(parents=True, exist_ok=True)
    small = thumbnail(upright).convert("RGB")
    # A name of its own, since two imports of one card at once write the same preview.
    temporary = target.with_name(f".{target.name}.{os.getpid()}-{secrets.token_hex(4)}.part")
    try:
        small.save(temporary, format="JPEG", quality=85)
        os.replace(temporary, target)
    except BaseException:  # Ctrl+C too, which must not leave a .part file behind
        temporary.unlink(missing_ok=True)
        raise


# Embedding network input: grayscale at a 2:1 width:height ratio, which suits a fluke's span.
# A saved model's own input shape overrides both the size and the channels.
EMBEDDING_INPUT_SIZE = (128, 64)  # (width, height) in pixels


def embedding_from_pixels(pixels: np.ndarray) -> np.ndarray:
    """Return the embedding network input, (height, width, channels) float32 in [0, 1]."""
    values = pixels.astype(np.float32) / 255.0
    return values[:, :, np.newaxis] if values.ndim == 2 else values


def embedding_input(
    image: Image.Image,
    crop: tuple[int, int, int, int] | None = None,
    size: tuple[int, int] = EMBEDDING_INPUT_SIZE,
    channels: int = 1,
) -> np.ndarray:
    """Return the embedding network input: shape (height, width, channels), float32 in [0, 1].

    The network standardizes each image itself, so training augmentation can change
    contrast on these [0, 1] pixels first.
    """
    return embedding_from_pixels(network_pixels(image, crop, size, channels))
