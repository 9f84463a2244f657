import numpy as np
from PIL import Image

from whalecat.imaging.preprocess import normalize, seed_input, to_grayscale


def test_normalize_known_values():
    pixels = np.array([[0, 2], [4, 6]], dtype=np.uint8)
    result = normalize(pixels)
    # mean 3, population standard deviation sqrt(5)
    expected = (np.array([[0, 2], [4, 6]]) - 3) / np.sqrt(5)
    np.testing.assert_allclose(result, expected, rtol=1e-6)
    assert result.dtype == np.float32


def test_normalize_constant_image_is_zero():
    result = normalize(np.full((4, 4), 200, dtype=np.uint8))
    assert np.isfinite(result).all()
    assert np.count_nonzero(result) == 0


def test_seed_input_shape_and_moments():
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (60, 300, 3), dtype=np.uint8), "RGB")
    tensor = seed_input(image)
    assert tensor.shape == (100, 100, 1)
    assert abs(float(tensor.mean())) < 1e-4
    assert abs(float(tensor.std()) - 1.0) < 1e-3


def test_grayscale_uses_luminance():
    red = Image.new("RGB", (2, 2), (255, 0, 0))
    # ITU-R 601-2 luma, as Pillow's "L" conversion: 255 * 299/1000
    assert to_grayscale(red).getpixel((0, 0)) == 76
