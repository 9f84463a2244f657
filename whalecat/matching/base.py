"""The contract between the catalogue and the matching methods.

The catalogue side builds a `Gallery` (its confirmed photos and their whales) and asks a
`Method` for candidates. Methods import no catalogue or Qt code, so `whalecat evaluate`, the
command line and the GUI all run the same matching code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

import numpy as np
from PIL import Image

from whalecat.imaging.input_cache import InputCache
from whalecat.imaging.preprocess import network_pixels
from whalecat.progress import Progress
from whalecat.text import first_names

NEW_WHALE = "new_whale"


@dataclass(frozen=True)
class GalleryPhoto:
    """One confirmed catalogue photo: `key` is its sha256, `whale_id` its individual."""

    key: str
    whale_id: str
    path: Path
    crop: tuple[int, int, int, int] | None = None  # (left, top, right, bottom) in upright pixels
    rotation: int = 0  # degrees clockwise the user turned the photo; `open_image` applies it
    name: str = ""  # the file name it was imported from, for messages

    @property
    def turned_key(self) -> str:
        """Return the key of the photo as turned, before any crop."""
        return self.key if self.rotation % 360 == 0 else f"{self.key}r{self.rotation % 360}"

    @property
    def cache_key(self) -> str:
        """Return the key for anything computed from this photo: a new crop or turn is a new key."""
        if self.crop is None:
            return self.turned_key
        return self.turned_key + "@" + ",".join(str(int(value)) for value in self.crop)


@dataclass
class Gallery:
    """The photos a method may match against, and how to open them upright.

    `open_image` returns the whole upright photo; a method cuts it to `photo.crop` itself.
    `inputs`, when given, keeps network input pixels on disk between runs.
    """

    photos: list[GalleryPhoto]
    open_image: Callable[[GalleryPhoto], Image.Image]
    inputs: InputCache | None = None
    # Confirmed photos left out because their stored copy is gone (see `missing_text`).
    missing: list[GalleryPhoto] = field(default_factory=list)

    @property
    def whale_ids(self) -> list[str]:
        return sorted({photo.whale_id for photo in self.photos})

    def subset(self, photos: list[GalleryPhoto]) -> Gallery:
        """Return a gallery of `photos` that opens and caches them the way this one does."""
        return Gallery(photos, self.open_image, self.inputs)

    def missing_text(self) -> str:
        """Name the confirmed photos whose copies are missing, for a warning; "" when none are."""
        if not self.missing:
            return ""
        named = first_names([f"{photo.name} ({photo.whale_id})" for photo in self.missing])
        count = len(self.missing)
        return (
            f"{count} confirmed {'photo is' if count == 1 else 'photos are'} missing from the "
            f"catalogue's photos/ folder: {named}; restore the folder from a backup, or "
            "remove those photos and import the originals again"
        )

    def network_pixels(self, photo: GalleryPhoto, size: tuple[int, int],
                       channels: int = 1) -> np.ndarray:
        """Return `photo` cut to its crop, at `size` with `channels` (1 is grayscale, 3 RGB),
        from the cache when stored."""
        if self.inputs is None:
            return network_pixels(self.open_image(photo), photo.crop, size, channels)
        return self.inputs.pixels(photo.turned_key, size, photo.crop,
                                  lambda: self.open_image(photo), channels)


@dataclass(frozen=True)
class Candidate:
    """One proposed label for a query: a whale id or NEW_WHALE, with the method's score."""

    label: str
    score: float
    best_photo_key: str | None = None  # the gallery photo that matched best, for the GUI
    details: dict = field(default_factory=dict)


class Method(Protocol):
    """A matching method: prepared once per gallery, then queried many times."""

    name: str
    version: str  # recorded with every suggestion this method makes

    def prepare(self, gallery: Gallery, progress: Progress) -> None: ...

    def query(
        self, image: Image.Image, top: int = 5, exclude_keys: frozenset[str] = frozenset()
    ) -> list[Candidate]: ...
