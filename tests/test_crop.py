"""Locating the fluke: synthetic frames with a known box, and the real photos."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from whalecat.imaging.crop import locate_fluke
from whalecat.imaging.io import open_photo


def sea(width=600, height=400, seed=0) -> Image.Image:
    rng = np.random.default_rng(seed)
    pixels = np.clip(rng.normal(170, 12, (height, width)), 0, 255).astype(np.uint8)
    return Image.fromarray(pixels).convert("RGB")


def draw_fluke(image: Image.Image, box) -> Image.Image:
    left, top, right, bottom = box
    middle = (left + right) // 2
    draw = ImageDraw.Draw(image)
    draw.polygon([(left, top), (middle, bottom), (right, top), (middle, top + (bottom - top) // 3)],
                 fill=(20, 20, 25))
    return image


def contains(outer, inner, slack=0):
    return (outer[0] <= inner[0] + slack and outer[1] <= inner[1] + slack
            and outer[2] >= inner[2] - slack and outer[3] >= inner[3] - slack)


def test_crop_finds_dark_fluke_on_water():
    fluke = (200, 100, 440, 220)
    box = locate_fluke(draw_fluke(sea(), fluke))
    assert contains(box, fluke, slack=8)
    assert (box[2] - box[0]) * (box[3] - box[1]) < 0.5 * 600 * 400


def test_crop_keeps_both_lobes_of_split_fluke():
    # A white underside over grey water shows as two lobes with the dark peduncle between them
    # no brighter than the water, so the lobes are two regions of one fluke.
    image = sea(seed=3)
    draw = ImageDraw.Draw(image)
    left_lobe, right_lobe = (120, 120, 280, 200), (330, 110, 470, 190)
    for box in (left_lobe, right_lobe):
        draw.ellipse(box, fill=(250, 250, 250))

    box = locate_fluke(image)

    assert contains(box, left_lobe, slack=4)
    assert contains(box, right_lobe, slack=4)


def test_crop_uniform_image_is_whole_frame():
    image = Image.new("L", (300, 200), 128)
    assert locate_fluke(image) == (0, 0, 300, 200)


def test_crop_tiny_image_is_whole_frame():
    assert locate_fluke(Image.new("RGB", (10, 8))) == (0, 0, 10, 8)


def test_crop_ignores_caption_band():
    image = draw_fluke(sea(), (180, 60, 420, 200))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 350, 600, 400), fill=(255, 255, 255))
    draw.text((20, 365), "HW-1234  Stellwagen Bank 2019", fill=(0, 0, 0))
    box = locate_fluke(image)
    assert box[3] <= 352
    assert contains(box, (180, 60, 420, 200), slack=8)


def test_crop_real_flukes_are_valid_boxes(fluke_data):
    names = sorted(p.name for p in (fluke_data / "images").iterdir())[:25]
    for name in names:
        image = open_photo(fluke_data / "images" / name)
        left, top, right, bottom = locate_fluke(image)
        assert 0 <= left < right <= image.width, name
        assert 0 <= top < bottom <= image.height, name


def test_crop_real_wide_field_photo_shrinks(fluke_data):
    # A 1050x700 field photo where the fluke fills about a third of the frame's width.
    image = open_photo(fluke_data / "images" / "0000e88ab.jpg")
    left, top, right, bottom = locate_fluke(image)
    assert (right - left) * (bottom - top) < 0.6 * image.width * image.height
    assert right - left > bottom - top
