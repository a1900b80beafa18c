"""Shapes drawn as geometry, not glyphs: rating stars, the certificate badge, the background.

Polygons are drawn four times over size on a mask and scaled down, which gives them
smooth (anti-aliased) edges that Pillow's polygon drawing does not.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image, ImageColor, ImageDraw

Point = tuple[float, float]
SUPERSAMPLE = 4
STAR_INNER = 0.48  # inner radius / outer radius: a full, friendly star that reads when small


@dataclass(frozen=True)
class StarRow:
    """Five stars, ``rating`` of them gold (halves drawn as half a star), left edge at ``x``."""

    x: int
    y: int  # top
    size: int  # each star's width and height
    gap: int
    rating: float

    @property
    def box(self) -> tuple[int, int, int, int]:
        return (self.x, self.y, self.x + 5 * self.size + 4 * self.gap, self.y + self.size)

    @staticmethod
    def width(size: int, gap: int) -> int:
        return 5 * size + 4 * gap


@dataclass(frozen=True)
class Badge:
    """The certificate: a disc in the BBFC colour with the certificate in it."""

    x: int
    y: int
    diameter: int
    certificate: str

    @property
    def box(self) -> tuple[int, int, int, int]:
        return (self.x, self.y, self.x + self.diameter, self.y + self.diameter)


def star_points(cx: float, cy: float, radius: float, inner: float = STAR_INNER) -> list[Point]:
    """A five-pointed star, point up, centred on (cx, cy) with the given outer radius."""
    points = []
    for i in range(10):
        r = radius if i % 2 == 0 else radius * inner
        angle = -math.pi / 2 + i * math.pi / 5
        points.append((cx + r * math.cos(angle), cy + r * math.sin(angle)))
    return points


def clip_left(points: list[Point], x_max: float) -> list[Point]:
    """The part of a polygon left of ``x = x_max`` (Sutherland–Hodgman against one edge)."""
    out: list[Point] = []
    for i, current in enumerate(points):
        previous = points[i - 1]
        inside_now, inside_before = current[0] <= x_max, previous[0] <= x_max
        if inside_now != inside_before:
            t = (x_max - previous[0]) / (current[0] - previous[0])
            out.append((x_max, previous[1] + t * (current[1] - previous[1])))
        if inside_now:
            out.append(current)
    return out


def _paint(
    image: Image.Image,
    box: tuple[int, int, int, int],
    colour: str,
    draw_mask: Callable[[ImageDraw.ImageDraw, int], None],
) -> None:
    """Paint ``colour`` through a mask drawn (supersampled) by ``draw_mask(draw, scale)``,
    whose coordinates are relative to ``box``'s top-left corner."""
    left, top, right, bottom = box
    w, h = right - left, bottom - top
    mask = Image.new("L", (w * SUPERSAMPLE, h * SUPERSAMPLE), 0)
    draw_mask(ImageDraw.Draw(mask), SUPERSAMPLE)
    mask = mask.resize((w, h), Image.Resampling.LANCZOS)
    image.paste(ImageColor.getrgb(colour), (left, top, right, bottom), mask)


def draw_stars(image: Image.Image, row: StarRow, *, on: str, off: str) -> None:
    radius = row.size / 2
    # The star's points reach the top of its square; its lowest points sit at
    # radius * cos(36°) below the centre, so it is centred a little low to sit square.
    cy_offset = radius * (1 - (1 + math.cos(math.pi / 5)) / 2)
    for i in range(5):
        left = row.x + i * (row.size + row.gap)
        filled = min(max(row.rating - i, 0.0), 1.0)  # 0, 0.5 or 1

        def shape(draw: ImageDraw.ImageDraw, s: int, part: float | None = None) -> None:
            pts = star_points(radius * s, (radius + cy_offset) * s, radius * s)
            if part is not None:
                pts = clip_left(pts, part * row.size * s)
            draw.polygon(pts, fill=255)

        box = (left, row.y, left + row.size, row.y + row.size)
        if filled < 1:
            _paint(image, box, off, shape)
        if filled > 0:
            _paint(image, box, on, lambda d, s: shape(d, s, None if filled >= 1 else filled))


def draw_badge_disc(image: Image.Image, badge: Badge, *, fill: str, ring: str | None) -> None:
    d = badge.diameter

    def disc(draw: ImageDraw.ImageDraw, s: int) -> None:
        draw.ellipse((0, 0, d * s - 1, d * s - 1), fill=255)

    _paint(image, badge.box, ring or fill, disc)
    if ring:
        inset = max(2, d // 22)

        def inner(draw: ImageDraw.ImageDraw, s: int) -> None:
            draw.ellipse((inset * s, inset * s, (d - inset) * s - 1, (d - inset) * s - 1), fill=255)

        _paint(image, badge.box, fill, inner)


def vertical_gradient(size: tuple[int, int], top: str, bottom: str) -> Image.Image:
    w, h = size
    t, b = ImageColor.getrgb(top), ImageColor.getrgb(bottom)
    column = Image.new("RGB", (1, h))
    column.putdata([tuple(round(t[c] + (b[c] - t[c]) * y / max(h - 1, 1)) for c in range(3)) for y in range(h)])
    return column.resize((w, h), Image.Resampling.NEAREST)


def draw_rounded(image: Image.Image, box: tuple[int, int, int, int], colour: str, radius: int) -> None:
    w, h = box[2] - box[0], box[3] - box[1]

    def shape(draw: ImageDraw.ImageDraw, s: int) -> None:
        draw.rounded_rectangle((0, 0, w * s - 1, h * s - 1), radius=radius * s, fill=255)

    _paint(image, box, colour, shape)


def luminance(colour: str) -> float:
    """Relative luminance (WCAG) of a colour, 0 for black to 1 for white."""

    def channel(c: int) -> float:
        v = c / 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = ImageColor.getrgb(colour)[:3]
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str, b: str) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


@functools.lru_cache(maxsize=8)
def backdrop(width: int, height: int, *, top: str, bottom: str, accent: str, bar: int, edge: str) -> Image.Image:
    """A gradient canvas with an accent bar ``bar`` pixels thick along the ``edge`` ("top" or
    "left"); cached, since every card (or thumbnail) starts from the same one."""
    image = vertical_gradient((width, height), top, bottom)
    if bar:
        box = (0, 0, width - 1, bar - 1) if edge == "top" else (0, 0, bar - 1, height - 1)
        ImageDraw.Draw(image).rectangle(box, fill=accent)
    return image
