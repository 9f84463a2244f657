import io

import numpy as np
import pytest
from PIL import Image

from tests.helpers import save_fluke, save_with_orientation
from whalecat.imaging.io import ImageError, open_photo, read_metadata
from whalecat.imaging.preprocess import seed_input


def _marked_image() -> Image.Image:
    """A 40x20 image whose top-left corner is red, so a rotation shows where it went."""
    image = Image.new("RGB", (40, 20), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 8, 8))
    return image


def test_exif_orientation_applied_once(tmp_path):
    path = save_with_orientation(tmp_path / "rotated.jpg", _marked_image(), orientation=6)
    upright = open_photo(path)
    # Orientation 6 means "rotate 90 degrees clockwise to view": 40x20 becomes 20x40.
    assert upright.size == (20, 40)
    red, green, blue = upright.getpixel((16, 3))
    assert red > 200
    assert blue < 60
    metadata = read_metadata(path, upright)
    assert (metadata.width, metadata.height) == (20, 40)


def test_exif_orientation_reaches_network_input(tmp_path):
    plain = save_with_orientation(tmp_path / "plain.jpg", _marked_image().rotate(-90, expand=True), 1)
    rotated = save_with_orientation(tmp_path / "rotated.jpg", _marked_image(), 6)
    difference = abs(seed_input(open_photo(plain)) - seed_input(open_photo(rotated)))
    assert float(difference.mean()) < 0.1


def test_format_from_content_not_extension(tmp_path):
    path = save_fluke(tmp_path / "really_a_jpeg.HEIC", individual=3)
    assert open_photo(path).size == (480, 320)
    png = save_fluke(tmp_path / "upper.PNG", individual=3, format="PNG")
    assert read_metadata(png, open_photo(png)).format == "PNG"


def test_tiff_and_grayscale(tmp_path):
    path = tmp_path / "scan.tif"
    Image.new("L", (30, 10), 128).save(path, format="TIFF")
    image = open_photo(path)
    assert image.mode == "L"
    assert image.size == (30, 10)


@pytest.mark.parametrize("suffix", [".tif", ".png"])
def test_sixteen_bit_gray_keeps_its_pattern(tmp_path, suffix):
    # A 12-bit scan stored in 16 bits: black 0, the brightest 4,095.
    fluke = np.asarray(open_photo(save_fluke(tmp_path / "fluke.jpg", individual=2)).convert("L"))
    path = tmp_path / f"scan{suffix}"
    Image.fromarray((fluke.astype(np.uint16) * 16).clip(0, 4095)).save(path)
    assert Image.open(path).mode == "I;16"

    image = open_photo(path)

    assert image.mode == "L"
    values = np.asarray(image)
    assert values.max() == 255
    assert values.std() > 20
    assert np.corrcoef(values.ravel(), fluke.ravel())[0, 1] > 0.99


def test_float_gray_scaled_from_unit_range(tmp_path):
    path = tmp_path / "float.tif"
    Image.fromarray(np.linspace(0.0, 1.0, 200, dtype=np.float32).reshape(10, 20)).save(path)

    values = np.asarray(open_photo(path))

    assert values.min() == 0
    assert values.max() == 255


def test_mpo_uses_first_frame(tmp_path):
    first = Image.new("RGB", (32, 16), (250, 0, 0))
    second = Image.new("RGB", (32, 16), (0, 250, 0))
    path = tmp_path / "camera.MPO"
    first.save(path, format="MPO", save_all=True, append_images=[second])
    with Image.open(path) as check:
        assert check.format == "MPO"
        assert check.n_frames == 2
    red, green, _ = open_photo(path).getpixel((5, 5))
    assert red > 200
    assert green < 50


def test_truncated_jpeg_rejected_with_reason(tmp_path):
    whole = io.BytesIO()
    Image.new("RGB", (200, 200), (10, 200, 30)).save(whole, format="JPEG")
    path = tmp_path / "truncated.jpg"
    path.write_bytes(whole.getvalue()[: len(whole.getvalue()) // 2])
    with pytest.raises(ImageError) as error:
        open_photo(path)
    assert "truncated.jpg" in str(error.value)
    assert "decode" in error.value.reason
    assert "copy it again" in error.value.reason


def test_empty_file_rejected_as_empty(tmp_path):
    path = tmp_path / "DSC_0001.JPG"
    path.write_bytes(b"")
    with pytest.raises(ImageError, match="empty file"):
        open_photo(path)


def test_folder_rejected_as_folder(tmp_path):
    # Pillow raised IsADirectoryError, which read as a photo cut short.
    with pytest.raises(ImageError, match="is a folder, not a photo"):
        open_photo(tmp_path)


def test_text_file_rejected(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("not a photo")
    with pytest.raises(ImageError, match="not an image"):
        open_photo(path)


def test_exif_date_gps_and_camera(tmp_path):
    exif = Image.Exif()
    exif[0x010F] = "Canon"  # Make
    exif[0x0110] = "EOS 7D"  # Model
    exif.get_ifd(0x8769)[0x9003] = "2024:07:15 09:30:12"  # DateTimeOriginal
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "S", (33.0, 30.0, 0.0)
    gps[3], gps[4] = "E", (151.0, 15.0, 36.0)
    path = tmp_path / "tagged.jpg"
    Image.new("RGB", (16, 16)).save(path, exif=exif.tobytes())
    metadata = read_metadata(path, open_photo(path))
    assert metadata.camera == "Canon EOS 7D"
    assert metadata.taken_at.isoformat() == "2024-07-15T09:30:12"
    exif[0x0110] = "Canon EOS 7D"  # a model that names its make, as Canon's do
    Image.new("RGB", (16, 16)).save(path, exif=exif.tobytes())
    assert read_metadata(path, open_photo(path)).camera == "Canon EOS 7D"
    assert metadata.latitude == pytest.approx(-33.5)
    assert metadata.longitude == pytest.approx(151.26)


def test_heic_opens_when_pillow_heif_installed(tmp_path):
    pillow_heif = pytest.importorskip("pillow_heif", reason="HEIC needs the heic extra")
    pillow_heif.register_heif_opener()
    path = tmp_path / "IMG_0001.HEIC"
    Image.new("RGB", (64, 48), (200, 10, 10)).save(path, format="HEIF")
    renamed = tmp_path / "looks_like.jpg"
    renamed.write_bytes(path.read_bytes())
    for candidate in (path, renamed):
        image = open_photo(candidate)
        assert image.size == (64, 48)
        assert read_metadata(candidate, image).format == "HEIF"
