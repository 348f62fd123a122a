"""Draws the integration's brand images (custom_components/health_trackers/brand/).

Home Assistant 2026.3 and newer serve a custom integration's own icon and logo, in light and dark
variants and at two sizes; earlier releases show none. Run with any Python that has Pillow and
the DejaVu fonts (the acceptance virtualenv has Pillow): ``.venvs/acceptance/bin/python
scripts/brand.py``. The drawing is the same at every size: a teal tile, a red heart, a pulse line.
"""

from __future__ import annotations

import math
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

BRAND = Path(__file__).resolve().parent.parent / "custom_components/health_trackers/brand"
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
TEAL_TOP, TEAL_BOTTOM = (22, 150, 136), (30, 95, 90)
HEART = (239, 68, 56)
WORDMARK = {"light": (31, 41, 55), "dark": (229, 231, 235)}
"""The name's colour on a light background and on a dark one."""
SUPERSAMPLE = 4


def heart(centre: tuple[float, float], scale: float) -> list[tuple[float, float]]:
    """The classic heart curve (x = 16 sin³t, y = 13 cos t - 5 cos 2t - 2 cos 3t - cos 4t)."""
    steps = 720
    points = []
    for step in range(steps):
        t = 2 * math.pi * step / steps
        x = 16 * math.sin(t) ** 3
        y = 13 * math.cos(t) - 5 * math.cos(2 * t) - 2 * math.cos(3 * t) - math.cos(4 * t)
        points.append((centre[0] + x * scale, centre[1] - y * scale))
    return points


def icon(size: int) -> Image.Image:
    """The square icon, drawn large and scaled down for smooth edges."""
    big = size * SUPERSAMPLE
    gradient = Image.new("RGBA", (big, big))
    draw = ImageDraw.Draw(gradient)
    for y in range(big):
        t = y / (big - 1)
        colour = tuple(round(a + (b - a) * t) for a, b in zip(TEAL_TOP, TEAL_BOTTOM, strict=True))
        draw.line([(0, y), (big, y)], fill=(*colour, 255))
    mask = Image.new("L", (big, big))
    ImageDraw.Draw(mask).rounded_rectangle([0, 0, big - 1, big - 1], radius=big // 6, fill=255)
    tile = Image.new("RGBA", (big, big))
    tile.paste(gradient, mask=mask)
    draw = ImageDraw.Draw(tile)
    u = big / 256  # the drawing's unit: a 256-pixel icon
    draw.polygon(heart(centre=(128 * u, 124 * u), scale=6.6 * u), fill=HEART)
    pulse = [(36, 130), (96, 130), (108, 100), (124, 168), (142, 112), (152, 130), (220, 130)]
    draw.line([(x * u, y * u) for x, y in pulse], fill="white", width=round(12 * u), joint="curve")
    for x, y in (pulse[0], pulse[-1]):
        draw.ellipse([(x - 6) * u, (y - 6) * u, (x + 6) * u, (y + 6) * u], fill="white")
    return tile.resize((size, size), Image.Resampling.LANCZOS)


def logo(height: int, theme: str) -> Image.Image:
    """The icon with the name beside it, on a transparent background."""
    font = ImageFont.truetype(FONT, round(height * 0.42))
    text = "Health Trackers"
    left, top, right, bottom = font.getbbox(text)
    gap = height // 4
    image = Image.new("RGBA", (height + gap + round(right - left), height))
    image.paste(icon(height), (0, 0))
    ImageDraw.Draw(image).text(
        (height + gap - left, (height - (bottom - top)) // 2 - top),
        text,
        font=font,
        fill=WORDMARK[theme],
    )
    return image


def main() -> None:
    """Every image Home Assistant looks for, light and dark, at 1x and 2x."""
    for scale, suffix in ((1, ""), (2, "@2x")):
        for theme, prefix in (("light", ""), ("dark", "dark_")):
            icon(256 * scale).save(BRAND / f"{prefix}icon{suffix}.png", optimize=True)
            logo(128 * scale, theme).save(BRAND / f"{prefix}logo{suffix}.png", optimize=True)


if __name__ == "__main__":
    main()
