"""Synthetic fluke photos, so tests and demos run on a fresh clone without real data.

Each individual is a seed: the same seed draws the same fluke outline and the same pattern of
white patches and scars. Each sighting of it varies the camera: rotation, scale, position,
brightness and sea texture, as two photos of one whale do.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def fluke_photo(
    individual: int, sighting: int = 0, size: tuple[int, int] = (480, 320)
) -> Image.Image:
    """Draw sighting `sighting` of whale `individual` as an RGB photo of `size` (width, height)."""
    pattern = np.random.default_rng(individual)
    camera = np.random.default_rng(1_000_003 * individual + sighting + 1)
    width, height = size
    fluke = _draw_fluke(pattern, (width, height))

    angle = float(camera.uniform(-8, 8)) if sighting else 0.0
    scale = float(camera.uniform(0.85, 1.05)) if sighting else 1.0
    fluke = fluke.rotate(angle, resample=Image.Resampling.BILINEAR, expand=False)
    scaled = fluke.resize((int(width * scale), int(height * scale)), Image.Resampling.BILINEAR)

    sea = _sea(camera, (width, height))
    offset = (
        (width - scaled.width) // 2 + int(camera.integers(-width // 20, width // 20 + 1)),
        (height - scaled.height) // 2 + int(camera.integers(-height // 20, height // 20 + 1)),
    )
    sea.paste(scaled.convert("RGB"), offset, scaled.getchannel("A"))
    brightness = float(camera.uniform(0.8, 1.2)) if sighting else 1.0
    pixels = np.clip(np.asarray(sea, dtype=np.float32) * brightness, 0, 255).astype(np.uint8)
    return Image.fromarray(pixels, "RGB")


def _draw_fluke(pattern: np.random.Generator, size: tuple[int, int]) -> Image.Image:
    width, height = size
    canvas = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(canvas)
    centre_x, top = width / 2, height * 0.3
    span, depth = width * 0.42, height * 0.38
    # Trailing edge with a notch in the middle; the lobes sweep back to pointed tips.
    outline = []
    for step in range(41):
        t = step / 40
        x = centre_x - span + 2 * span * t
        notch = 0.12 * depth * math.exp(-((t - 0.5) ** 2) / 0.002)
        ripple = 0.04 * depth * math.sin(t * math.pi * pattern.uniform(6, 12))
        outline.append((x, top + notch + ripple + 0.15 * depth * (2 * t - 1) ** 4))
    for step in range(41):
        t = 1 - step / 40
        x = centre_x - span + 2 * span * t
        outline.append((x, top + depth * (0.35 + 0.65 * math.sin(math.pi * t) ** 0.7)))
    draw.polygon(outline, fill=(25, 25, 28, 255))

    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).polygon(outline, fill=255)
    patches = Image.new("RGBA", size, (0, 0, 0, 0))
    patch_draw = ImageDraw.Draw(patches)
    for _ in range(int(pattern.integers(4, 9))):
        cx = centre_x + pattern.uniform(-span, span)
        cy = top + pattern.uniform(0.1, 0.8) * depth
        rx, ry = pattern.uniform(0.03, 0.14) * width, pattern.uniform(0.03, 0.1) * height
        patch_draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=(235, 235, 230, 255))
    for _ in range(int(pattern.integers(3, 8))):  # rake marks and scars
        x0 = centre_x + pattern.uniform(-span, span)
        y0 = top + pattern.uniform(0.1, 0.8) * depth
        x1, y1 = x0 + pattern.uniform(-40, 40), y0 + pattern.uniform(-25, 25)
        patch_draw.line((x0, y0, x1, y1), fill=(245, 245, 245, 255), width=int(pattern.integers(2, 5)))
    canvas.paste(patches, (0, 0), Image.composite(patches.getchannel("A"), Image.new("L", size, 0), mask))
    return canvas.filter(ImageFilter.GaussianBlur(0.8))


def _sea(camera: np.random.Generator, size: tuple[int, int]) -> Image.Image:
    width, height = size
    base = np.array(camera.uniform([40, 70, 100], [80, 110, 150]), dtype=np.float32)
    rows = np.linspace(0.8, 1.2, height, dtype=np.float32)[:, None, None]
    noise = camera.normal(0, 8, (height, width, 1)).astype(np.float32)
    pixels = np.clip(base[None, None, :] * rows + noise, 0, 255).astype(np.uint8)
    return Image.fromarray(pixels, "RGB").filter(ImageFilter.GaussianBlur(1.2))
