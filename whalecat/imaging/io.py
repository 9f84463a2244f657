"""Decode photos by their content, apply EXIF orientation once, and read EXIF metadata."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

log = logging.getLogger(__name__)

try:  # HEIC support is optional: pip install whalecat[heic]
    import pillow_heif

    pillow_heif.register_heif_opener()
    HEIC_SUPPORTED = True
except ImportError:
    HEIC_SUPPORTED = False

# Pillow modes of one channel wider than 8 bits: 16-bit and 32-bit integers, and floats.
WIDE_GRAY_MODES = {"I;16", "I;16L", "I;16B", "I;16N", "I", "F"}

# Pillow format names we accept. MPO is the multi-picture JPEG some cameras write.
SUPPORTED_FORMATS = {"JPEG", "MPO", "PNG", "TIFF", "HEIF"}
PHOTO_SUFFIXES = {".jpg", ".jpeg", ".jpe", ".png", ".tif", ".tiff", ".heic", ".heif", ".mpo"}


class ImageError(Exception):
    """A file that cannot be used as a photo; the message names the file and the reason."""

    def __init__(self, path: Path | str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


@dataclass(frozen=True)
class PhotoMetadata:
    """Facts read from a photo's header; width and height are after EXIF orientation."""

    format: str
    width: int
    height: int
    taken_at: datetime | None
    latitude: float | None
    longitude: float | None
    camera: str | None


def open_photo(path: Path | str) -> Image.Image:
    """Decode a photo fully and return it upright, in RGB or L mode.

    The format comes from the file's content, so a JPEG named `.HEIC` still opens. Raises
    ImageError for anything that is not a complete image in a supported format.
    """
    path = Path(path)
    try:
        with Image.open(path) as image:
            if image.format not in SUPPORTED_FORMATS:
                hint = " (install pillow-heif for HEIC)" if not HEIC_SUPPORTED else ""
                raise ImageError(path, f"unsupported image format {image.format}{hint}")
            if getattr(image, "n_frames", 1) > 1:
                image.seek(0)  # MPO and multi-page TIFF: the first frame is the photo
            image.load()
            upright = ImageOps.exif_transpose(image)
    except ImageError:
        raise
    except FileNotFoundError:
        raise ImageError(path, "file not found") from None
    except IsADirectoryError:
        raise ImageError(path, "is a folder, not a photo; give one photo file") from None
    except Image.DecompressionBombError as exc:
        limit = 2 * Image.MAX_IMAGE_PIXELS / 1e6  # Pillow refuses twice its warning size
        # Pillow's message is the only place that gives the size: "Image size (N pixels) exceeds…".
        found = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{int(found.group(1)) / 1e6:.0f} megapixels" if found else "too many pixels"
        raise ImageError(
            path, f"has {size}, more than the {limit:.0f} that whalecat opens safely; import a smaller copy"
        ) from None
    except UnidentifiedImageError:
        if Path(path).stat().st_size == 0:
            raise ImageError(path, "empty file (0 bytes); copy it again from the card") from None
        raise ImageError(
            path, "not an image file, or a format whalecat cannot read; convert it to JPEG, PNG or TIFF"
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        # Pillow reports truncated and corrupt data as OSError or SyntaxError.
        raise ImageError(
            path, f"cannot decode image data ({exc}); the file may be cut short, so copy it again from the card"
        ) from None
    if upright.mode in WIDE_GRAY_MODES:
        return _eight_bit_gray(upright)
    if upright.mode not in ("RGB", "L"):
        upright = upright.convert("RGB")
    return upright


def _eight_bit_gray(image: Image.Image) -> Image.Image:
    """Return a grayscale image of more than 8 bits as 8-bit L mode.

    Pillow's own conversion clips every value above 255, so a 16-bit scan came out white. The
    brightest value becomes 255 instead of 65,535, because 16-bit files often hold 12-bit or
    14-bit sensor values. Values of 0 to 1 in a float image are scaled to 0 to 255.
    """
    values = np.asarray(image, dtype=np.float64)
    values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0).clip(min=0.0)
    brightest = float(values.max(initial=0.0))
    if image.mode == "F" and brightest <= 1.0:
        values *= 255.0
    elif brightest > 255.0:
        values *= 255.0 / brightest
    return Image.fromarray(np.round(values).clip(0, 255).astype(np.uint8), mode="L")


def read_metadata(path: Path | str, upright: Image.Image) -> PhotoMetadata:
    """Read the EXIF date, GPS position and camera of `path`; `upright` gives the size."""
    with Image.open(path) as image:
        fmt = image.format or "unknown"
        exif = image.getexif()
    taken_at = _parse_exif_datetime(
        exif.get_ifd(ExifTags.IFD.Exif).get(ExifTags.Base.DateTimeOriginal)
        or exif.get(ExifTags.Base.DateTime)
    )
    latitude, longitude = _parse_gps(exif.get_ifd(ExifTags.IFD.GPSInfo))
    make, model = (str(exif.get(tag) or "").strip("\x00 ") for tag in (ExifTags.Base.Make, ExifTags.Base.Model))
    # Canon writes the make into the model too ("Canon EOS 7D"), so it is not repeated.
    camera = model if make and model.lower().startswith(make.lower()) else " ".join(filter(None, (make, model)))
    return PhotoMetadata(
        format=fmt,
        width=upright.width,
        height=upright.height,
        taken_at=taken_at,
        latitude=latitude,
        longitude=longitude,
        camera=camera or None,
    )


def _parse_exif_datetime(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value.strip("\x00 "), "%Y:%m:%d %H:%M:%S")
    except ValueError:
        log.debug("Ignoring unreadable EXIF date %r", value)
        return None


def _parse_gps(gps: dict) -> tuple[float | None, float | None]:
    try:
        latitude = _dms_to_degrees(gps[ExifTags.GPS.GPSLatitude], gps[ExifTags.GPS.GPSLatitudeRef])
        longitude = _dms_to_degrees(
            gps[ExifTags.GPS.GPSLongitude], gps[ExifTags.GPS.GPSLongitudeRef]
        )
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None, None
    return latitude, longitude


def _dms_to_degrees(dms: tuple, ref: str) -> float:
    degrees, minutes, seconds = (float(part) for part in dms)
    value = degrees + minutes / 60 + seconds / 3600
    return -value if ref in ("S", "W") else value
