"""Image files made on the fly for tests that must run without the real photographs, and a
reader for the labelled right-whale set."""

from __future__ import annotations

import csv
from pathlib import Path

from PIL import Image

from whalecat.imaging.synthetic import fluke_photo


def save_fluke(path: Path, individual: int, sighting: int = 0, **save_options) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fluke_photo(individual, sighting).save(path, format=save_options.pop("format", "JPEG"), **save_options)
    return path


def save_with_orientation(path: Path, image: Image.Image, orientation: int) -> Path:
    """Save `image` as a JPEG whose EXIF says it must be turned by `orientation` (1-8)."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    image.save(path, format="JPEG", exif=exif.tobytes())
    return path


def save_labelled_flukes(folder: Path, whales: int, photos_per_whale: int) -> tuple[Path, Path]:
    """Save sightings of synthetic whales `w_0000000`, ... and an `Image,Id` labels file.

    Returns (images folder, labels CSV).
    """
    images = folder / "in"
    rows = ["Image,Id"]
    for whale in range(whales):
        for sighting in range(photos_per_whale):
            name = f"w{whale}_s{sighting}.jpg"
            save_fluke(images / name, individual=whale, sighting=sighting)
            rows.append(f"{name},w_{whale:07d}")
    labels = folder / "labels.csv"
    labels.write_text("\n".join(rows) + "\n")
    return images, labels


def rightwhale_photos(data: Path, whales: int = 4, photos: int = 3, min_photos: int = 1) -> dict[str, list[Path]]:
    """Map the first `whales` right whales (by id) with at least `min_photos` photos to the
    paths of their first `photos` photos, from the labelled set in `data`."""
    by_whale: dict[str, list[Path]] = {}
    with open(data / "labels.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            by_whale.setdefault(row["Id"], []).append(data / "images" / row["Image"])
    chosen = [whale for whale in sorted(by_whale) if len(by_whale[whale]) >= min_photos][:whales]
    return {whale: sorted(by_whale[whale])[:photos] for whale in chosen}
