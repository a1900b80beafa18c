"""What the card and the thumbnail share: a layout as data, checked, then drawn."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

from PIL import Image, ImageDraw

from services.social.look import Look
from services.social.shapes import Badge, StarRow, contrast, draw_badge_disc, draw_rounded, draw_stars
from services.social.typeset import Box, TextBox, draw_boxes

# Unicode blocks DejaVu Serif lacks but DejaVu Sans has (Hebrew, Arabic, Syriac… and
# Arabic presentation forms): a quote that needs them is set in the sans.
_WIDE = [(0x0590, 0x1FFF), (0xFB1D, 0xFEFF)]


def needs_wide_font(text: str) -> bool:
    return any(lo <= ord(c) <= hi for c in text for lo, hi in _WIDE)


@dataclass
class Layout:
    """Everything on an image, placed. ``texts`` are the lines of text as drawn; shapes
    (stars, badge, pill, rules) are in ``shapes``; ``content`` is the canvas minus its
    margins, where all of them must lie."""

    width: int
    height: int
    margin: int
    texts: list[TextBox] = field(default_factory=list)
    stars: StarRow | None = None
    badge: Badge | None = None
    rects: list[tuple[str, Box, str, int]] = field(default_factory=list)  # role, box, colour, corner radius
    quote: str | None = None
    title_complete: bool = True

    @property
    def content(self) -> Box:
        return (self.margin, self.margin, self.width - self.margin, self.height - self.margin)

    def text(self, role: str) -> str:
        return " ".join(t.text for t in self.texts if t.role == role)

    def elements(self) -> list[tuple[str, Box]]:
        """Every drawn thing and its box; the text inside a badge or pill is part of it."""
        out = [(t.role, t.box) for t in self.texts if t.role not in ("badge", "verdict")]
        if self.stars:
            out.append(("stars", self.stars.box))
        if self.badge:
            out.append(("badge", self.badge.box))
        out += [(role, box) for role, box, _, _ in self.rects]
        return out

    def overflows(self) -> list[str]:
        """What lies outside the content box or on top of something else, in words."""
        left, top, right, bottom = self.content
        problems = [
            f"{role} {box} outside {self.content}"
            for role, box in self.elements()
            if box[0] < left or box[1] < top or box[2] > right or box[3] > bottom
        ]
        for t in self.texts:
            if t.role in ("badge", "verdict"):
                host = (
                    self.badge.box
                    if t.role == "badge" and self.badge
                    else next((b for r, b, _, _ in self.rects if r == "pill"), None)
                )
                if host is None or not _inside(t.box, host):
                    problems.append(f"{t.role} text {t.box} outside its shape {host}")
        for (role_a, a), (role_b, b) in combinations(self.elements(), 2):
            if role_a != role_b and _overlap(a, b):
                problems.append(f"{role_a} {a} overlaps {role_b} {b}")
        return problems

    def fits(self) -> bool:
        return not self.overflows()


def _inside(inner: Box, outer: Box) -> bool:
    return inner[0] >= outer[0] and inner[1] >= outer[1] and inner[2] <= outer[2] and inner[3] <= outer[3]


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def draw_layout(layout: Layout, background: Image.Image, look: Look) -> Image.Image:
    """Draw ``layout`` on a copy of ``background``: shapes first, then the text."""
    image = background.copy()
    for _, box, colour, radius in layout.rects:
        draw_rounded(image, box, colour, radius)
    if layout.stars:
        draw_stars(image, layout.stars, on=look.palette.star_on, off=look.palette.star_off)
    if layout.badge:
        fill, _ = look.certificate_colour(layout.badge.certificate)
        # A disc too close to the background in tone (R18's black) gets a ring in ink.
        ring = look.palette.ink if contrast(fill, look.palette.background_top) < 1.6 else None
        draw_badge_disc(image, layout.badge, fill=fill, ring=ring)
    draw_boxes(ImageDraw.Draw(image), look.fonts, layout.texts)
    return image
