"""Network input pixels kept on disk, so training and re-embedding need not decode photos.

Import stores each photo's `network_pixels` at the bundled networks' input sizes, so that
a training epoch does not decode and resize every photo again. Training, scoring and
re-embedding read these small `.npy` files. A size, crop or photo not stored yet is computed
once from the photo and written for the next time. The files live in the catalogue folder
(`cache/inputs/`) and can be deleted at any time: they are made again when needed.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from whalecat.imaging.preprocess import EMBEDDING_INPUT_SIZE, SEED_INPUT_SIZE, network_pixels

log = logging.getLogger(__name__)

Crop = tuple[int, int, int, int]

BUNDLED_SIDECAR = Path(__file__).resolve().parents[2] / "resources" / "models" / "embedding.json"


@functools.cache
def import_inputs() -> tuple[tuple[tuple[int, int], int], ...]:
    """Return the ((width, height), channels) inputs import stores: the seed CNN's and the
    bundled embedding model's, read from its sidecar so that import does not load TensorFlow."""
    inputs = [(SEED_INPUT_SIZE, 1)]
    embedding = (EMBEDDING_INPUT_SIZE, 1)
    try:
        stored = json.loads(BUNDLED_SIDECAR.read_text(encoding="utf-8"))
        size = stored["input_size"]
        embedding = ((int(size["width"]), int(size["height"])), int(stored.get("channels", 1)))
    except (OSError, KeyError, TypeError, ValueError):
        pass
    if embedding not in inputs:
        inputs.append(embedding)
    return tuple(inputs)


class InputCache:
    """Stored `network_pixels` of catalogue photos, keyed by photo sha256, size, channels and crop."""

    def __init__(self, folder: Path | str):
        self.folder = Path(folder)

    def path(self, key: str, size: tuple[int, int], crop: Crop | None = None,
             channels: int = 1) -> Path:
        name = f"{key}-{size[0]}x{size[1]}" + ("" if channels == 1 else f"x{channels}")
        if crop is not None:
            name += "-" + "_".join(str(int(value)) for value in crop)
        return self.folder / key[:2] / f"{name}.npy"

    def pixels(
        self,
        key: str,
        size: tuple[int, int],
        crop: Crop | None,
        open_image: Callable[[], Image.Image],
        channels: int = 1,
    ) -> np.ndarray:
        """Return the stored pixels, or compute them from `open_image()` and store them."""
        path = self.path(key, size, crop, channels)
        stored = self._read(path, size, channels)
        if stored is not None:
            return stored
        pixels = network_pixels(open_image(), crop, size, channels)
        try:
            self._write(path, pixels)
        except OSError as exc:
            log.warning("Failed to store the network input %s: %s; it is computed again next time", path, exc)
        return pixels

    def store(
        self,
        key: str,
        image: Image.Image,
        inputs: tuple[tuple[tuple[int, int], int], ...],
        crop: Crop | None = None,
    ) -> None:
        """Store the pixels of an upright photo cut to `crop` for each ((width, height),
        channels) input.

        Never raises OSError, because a photo is imported correctly without them.
        """
        for size, channels in inputs:
            try:
                self._write(self.path(key, size, crop, channels),
                            network_pixels(image, crop, size, channels))
            except OSError as exc:
                log.warning("Failed to store the network inputs of photo %s: %s; training computes them from the photo", key, exc)
                return

    def _read(self, path: Path, size: tuple[int, int], channels: int) -> np.ndarray | None:
        try:
            pixels = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("Ignoring unreadable cached input %s: %s", path, exc)
            return None
        shape = (size[1], size[0]) if channels == 1 else (size[1], size[0], channels)
        if pixels.dtype != np.uint8 or pixels.shape != shape:
            log.warning("Ignoring cached input %s of shape %s", path, pixels.shape)
            return None
        return pixels

    def _write(self, path: Path, pixels: np.ndarray) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".writing-", suffix=".npy")
        try:
            with os.fdopen(handle, "wb") as stream:
                np.save(stream, pixels, allow_pickle=False)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
