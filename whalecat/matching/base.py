"""The contract between the catalogue and the matching methods.

The catalogue side builds a `Gallery` (its confirmed photos and their whales) and asks a
`Method` for candidates. Methods import no catalogue or Qt code, so `whalecat evaluate`, the
command line and the GUI all run the same matching code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

from PIL import Image

from whalecat.progress import Progress

NEW_WHALE = "new_whale"


@dataclass(frozen=True)
class GalleryPhoto:
    """One confirmed catalogue photo: `key` is its sha256, `whale_id` its individual."""

    key: str
    whale_id: str
    path: Path
    crop: tuple[int, int, int, int] | None = None  # (left, top, right, bottom) in upright pixels


@dataclass
class Gallery:
    """The photos a method may match against, and how to open them upright.

    `open_image` returns the whole upright photo; a method cuts it to `photo.crop` itself.
    """

    photos: list[GalleryPhoto]
    open_image: Callable[[GalleryPhoto], Image.Image]

    @property
    def whale_ids(self) -> list[str]:
        return sorted({photo.whale_id for photo in self.photos})


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
