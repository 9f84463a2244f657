"""Image files made on the fly for tests that must run without the real photographs."""

from __future__ import annotations

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
