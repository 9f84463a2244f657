"""Quarter turns of catalogue photos whose camera recorded no orientation, or a wrong one.

The stored copy is never rewritten. The turn is kept with the photo as degrees clockwise and
applied each time the photo is opened, after its EXIF orientation. The crop box and the
thumbnail turn with the photo, so the fluke stays selected.
"""

from __future__ import annotations

import os
from pathlib import Path

from PIL import Image

from whalecat.catalogue.models import Photo
from whalecat.catalogue.records import PhotoGoneError, PhotoSummary, photo_summary
from whalecat.catalogue.store import Catalogue
from whalecat.imaging.io import ImageError, open_photo
from whalecat.imaging.preprocess import save_thumbnail

Box = tuple[int, int, int, int]

# PIL's transpose turns counter-clockwise, so a clockwise quarter turn is its ROTATE_270.
_TRANSPOSE = {
    90: Image.Transpose.ROTATE_270,
    180: Image.Transpose.ROTATE_180,
    270: Image.Transpose.ROTATE_90,
}


def turned(image: Image.Image, rotation: int) -> Image.Image:
    """Return `image` turned `rotation` degrees clockwise (a multiple of 90)."""
    rotation %= 360
    return image if rotation == 0 else image.transpose(_TRANSPOSE[rotation])


def open_catalogue_photo(catalogue: Catalogue, photo: PhotoSummary) -> Image.Image:
    """Open a catalogue photo upright: its EXIF orientation, then the user's turn.

    Raises ImageError naming the imported file when the catalogue's copy is gone or damaged.
    """
    copy = open_catalogue_copy(catalogue.folder / photo.stored_name, photo.original_name, photo.stored_name)
    return turned(copy, photo.rotation)


def open_catalogue_copy(path: Path, name: str, copy_name: str) -> Image.Image:
    """Decode the stored copy at `path` of the photo imported as `name`; `copy_name` names the copy in errors.

    The errors name the imported file, which the researcher recognizes, and how to repair the copy.
    """
    if not path.is_file():
        raise ImageError(
            name,
            f"the catalogue's copy ({copy_name}) is missing; restore the catalogue folder "
            "from a backup, or remove the photo and import the original again",
        )
    try:
        return open_photo(path)
    except ImageError as exc:
        # The first clause is the fault; the advice after it is for a file on a card.
        fault = exc.reason.split(";")[0]
        raise ImageError(
            name,
            f"the catalogue's copy ({copy_name}) cannot be read ({fault}); import the original photo again to "
            "replace it, or restore the catalogue folder from a backup",
        ) from None


def turn_box(box: Box, width: int, height: int, clockwise: bool) -> Box:
    """Return `box` in a `width` x `height` photo after a quarter turn of the photo."""
    left, top, right, bottom = box
    if clockwise:
        return (height - bottom, left, height - top, right)
    return (top, width - right, bottom, width - left)


def turn_photo(catalogue: Catalogue, photo_id: int, clockwise: bool) -> PhotoSummary:
    """Turn a photo a quarter turn, with its crop and thumbnail; return it as now stored.

    The thumbnail is written beside the old one first and replaces it only once the
    database has the turn, so a failure leaves the photo as it was. It is made again from
    the stored copy, because saving the turned JPEG again would wear it down at each turn.
    Without a readable copy, the old thumbnail is turned instead.
    """
    with catalogue.session() as session:
        photo = session.get(Photo, photo_id)
        if photo is None:
            raise PhotoGoneError(photo_id)
        thumbnail = catalogue.thumbnail_path(photo.sha256)
        part = thumbnail.with_name(f".{thumbnail.name}.{os.getpid()}-turn.part")
        rotation = (photo.rotation + (90 if clockwise else 270)) % 360
        try:
            save_thumbnail(turned(open_photo(catalogue.folder / photo.stored_name), rotation), part)
        except ImageError:
            if thumbnail.is_file():
                with Image.open(thumbnail) as small:
                    turned(small, 90 if clockwise else 270).save(part, format="JPEG", quality=85)
        if photo.crop is not None:
            box = turn_box(photo.crop, photo.width, photo.height, clockwise)
            photo.crop_left, photo.crop_top, photo.crop_right, photo.crop_bottom = box
        photo.width, photo.height = photo.height, photo.width
        photo.rotation = rotation
        try:
            session.commit()
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        if part.is_file():
            os.replace(part, thumbnail)
        return photo_summary(photo)
