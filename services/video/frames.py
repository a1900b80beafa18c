"""The teaser's pictures: one per caption cue, drawn with Pillow, each text measured to fit.

A scene shows the part of the script being spoken (the title while the hook is read, the
film's facts under the premise, the stars for the verdict, the byline for the call to
action) and the cue's words as a caption. A picture is drawn once per cue and the encoder
holds it for the cue's length, so a 30-second teaser is a dozen drawings, not 900.

Every text is drawn inside ``SAFE_ZONE``, the part of a 1080×1920 frame that YouTube Shorts
and Instagram Reels leave clear of their own buttons, names and captions (docs/SOCIAL.md
gives the sources): 20% of the height kept clear at the top, 35% at the bottom, 10% of the
width on the left and 12% on the right. Only the backdrop reaches the edges. Each drawing
returns the boxes of its ink, so tests hold them against the zone.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from shared.models import Review
from shared.site.formatting import format_runtime, stars_glyphs

WIDTH, HEIGHT = 1080, 1920
Box = tuple[int, int, int, int]  # left, top, right, bottom
SAFE_ZONE: Box = (108, 384, 950, 1248)

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")  # Debian's fonts-dejavu-core, as the cards use
BOLD, REGULAR, ITALIC = "DejaVuSans-Bold.ttf", "DejaVuSans.ttf", "DejaVuSerif-Italic.ttf"
INK, MUTED, ACCENT, STAR_ON, STAR_OFF = "#f7f4ee", "#b4b0a8", "#e2483d", "#f5b71f", "#55535e"
BACKGROUND_TOP, BACKGROUND_BOTTOM, CAPTION_BACK = "#1c1b22", "#0b0b0e", "#000000"

HEADER: Box = (SAFE_ZONE[0], SAFE_ZONE[1], SAFE_ZONE[2], SAFE_ZONE[1] + 56)
STAGE: Box = (SAFE_ZONE[0], SAFE_ZONE[1] + 80, SAFE_ZONE[2], SAFE_ZONE[3] - 300)
CAPTION: Box = (SAFE_ZONE[0], SAFE_ZONE[3] - 270, SAFE_ZONE[2], SAFE_ZONE[3])
CAPTION_PAD = 24


@dataclass
class Drawing:
    """What was drawn, as boxes of ink by role: tests check them against the frame."""

    image: Image.Image
    boxes: list[tuple[str, Box]] = field(default_factory=list)


@functools.lru_cache(maxsize=128)
def _font(name: str, size: int) -> ImageFont.FreeTypeFont:
    path = FONT_DIR / name
    if path.is_file():
        return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size=size)  # type: ignore[return-value]  # FreeType is built in


def _width(text: str, font: ImageFont.FreeTypeFont) -> float:
    left, _, right, _ = font.getbbox(text)
    return right - left


def wrap(text: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    """Greedy lines of at most ``width`` pixels; a word wider than that (CJK has no spaces) is cut by character."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}" if current else word
        if _width(candidate, font) <= width:
            current = candidate
            continue
        if current:
            lines.append(current)
        current = ""
        for char in word:
            if current and _width(current + char, font) > width:
                lines.append(current)
                current = ""
            current += char
    if current:
        lines.append(current)
    return lines


def fit(
    text: str, name: str, box: Box, *, sizes: tuple[int, int], max_lines: int
) -> tuple[ImageFont.FreeTypeFont, list[str]]:
    """The largest size from ``sizes`` (high, low) at which ``text`` wraps into ``box`` in at
    most ``max_lines``; at the smallest, the lines that fit, the last ending in an ellipsis."""
    width, height = box[2] - box[0], box[3] - box[1]
    high, low = sizes
    size = high
    while True:
        font = _font(name, size)
        lines = wrap(text, font, width)
        if len(lines) <= max_lines and len(lines) * int(size * 1.2) <= height:
            return font, lines
        if size <= low:
            break
        size = max(low, int(size * 0.9))
    room = max(1, min(max_lines, height // int(size * 1.2)))
    lines = lines[:room]
    last = lines[-1]
    while last and _width(last + "…", font) > width:
        last = last[:-1]
    lines[-1] = last.rstrip() + "…"
    return font, lines


def _draw_lines(
    drawing: Drawing, role: str, lines: list[str], font: ImageFont.FreeTypeFont, *, box: Box, colour: str, top: int
) -> int:
    """Lines centred across ``box`` from ``top``; the y below the last."""
    draw = ImageDraw.Draw(drawing.image)
    step = int(font.size * 1.2)
    centre = (box[0] + box[2]) / 2
    for line in lines:
        draw.text((centre, top), line, font=font, fill=colour, anchor="ma")
        ink = draw.textbbox((centre, top), line, font=font, anchor="ma")
        drawing.boxes.append((role, (int(ink[0]), int(ink[1]), int(ink[2]) + 1, int(ink[3]) + 1)))
        top += step
    return top


def _text(
    drawing: Drawing,
    role: str,
    text: str,
    name: str,
    box: Box,
    *,
    sizes: tuple[int, int],
    max_lines: int,
    colour: str,
    top: int,
) -> int:
    font, lines = fit(text, name, (box[0], top, box[2], box[3]), sizes=sizes, max_lines=max_lines)
    return _draw_lines(drawing, role, lines, font, box=box, colour=colour, top=top)


@functools.lru_cache(maxsize=1)
def backdrop() -> Image.Image:
    """The gradient behind every scene, with a band of the site's red at the top of the safe zone."""
    top = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND_TOP)
    bottom = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND_BOTTOM)
    mask = Image.linear_gradient("L").resize((WIDTH, HEIGHT))
    image = Image.composite(bottom, top, mask)
    ImageDraw.Draw(image).rectangle((0, SAFE_ZONE[1] - 40, WIDTH, SAFE_ZONE[1] - 32), fill=ACCENT)
    return image


def _stars(drawing: Drawing, rating: float, *, size: int, top: int) -> int:
    glyphs = stars_glyphs(rating)
    font = _font(REGULAR, size)
    draw = ImageDraw.Draw(drawing.image)
    left = (SAFE_ZONE[0] + SAFE_ZONE[2] - _width(glyphs, font)) / 2
    for glyph in glyphs:
        draw.text((left, top), "★", font=font, fill=STAR_ON if glyph == "★" else STAR_OFF, anchor="la")
        ink = draw.textbbox((left, top), "★", font=font, anchor="la")
        if glyph == "½":  # the left half of the star lit
            half = (int(ink[0]), int(ink[1]), int((ink[0] + ink[2]) / 2), int(ink[3]) + 1)
            lit = Image.new("RGB", drawing.image.size)
            ImageDraw.Draw(lit).text((left, top), "★", font=font, fill=STAR_ON, anchor="la")
            mask = Image.new("L", drawing.image.size, 0)
            ImageDraw.Draw(mask).text((left, top), "★", font=font, fill=255, anchor="la")
            drawing.image.paste(lit.crop(half), half[:2], mask.crop(half))
        drawing.boxes.append(("stars", (int(ink[0]), int(ink[1]), int(ink[2]) + 1, int(ink[3]) + 1)))
        left += _width(glyph, font)
    return top + int(size * 1.25)


def draw_scene(review: Review, *, part: str, caption: str | None, site: str) -> Drawing:
    """One picture of the teaser: the header, the part's scene, and the caption (if any)."""
    drawing = Drawing(backdrop().copy())
    header = f"{site.upper()} · {review.certificate}"
    _text(drawing, "header", header, BOLD, HEADER, sizes=(34, 20), max_lines=1, colour=ACCENT, top=HEADER[1])
    title = review.title if review.year is None else f"{review.title} ({review.year})"
    top = STAGE[1]
    if part == "hook":
        top = _text(drawing, "title", title, BOLD, STAGE, sizes=(110, 44), max_lines=5, colour=INK, top=top)
        _stars(drawing, review.rating, size=72, top=min(top + 20, STAGE[3] - 90))
    elif part == "premise":
        top = _text(
            drawing,
            "title",
            title,
            BOLD,
            (STAGE[0], top, STAGE[2], top + 160),
            sizes=(60, 36),
            max_lines=2,
            colour=INK,
            top=top,
        )
        facts = f"Directed by {', '.join(review.directors[:2])}"
        top = _text(
            drawing,
            "facts",
            facts,
            REGULAR,
            (STAGE[0], top + 30, STAGE[2], top + 190),
            sizes=(40, 26),
            max_lines=2,
            colour=MUTED,
            top=top + 30,
        )
        more = f"{format_runtime(review.runtime_minutes)} · {review.certificate}"
        _text(
            drawing,
            "facts",
            more,
            REGULAR,
            (STAGE[0], top + 10, STAGE[2], STAGE[3]),
            sizes=(40, 26),
            max_lines=1,
            colour=MUTED,
            top=top + 10,
        )
    elif part == "verdict":
        top = _stars(drawing, review.rating, size=112, top=top + 40)
        score = f"{review.rating:g}/5"
        _text(drawing, "verdict", score, BOLD, STAGE, sizes=(96, 60), max_lines=1, colour=INK, top=top + 20)
    else:
        top = _text(
            drawing,
            "byline",
            f"Review by {review.author}",
            BOLD,
            (STAGE[0], top + 20, STAGE[2], top + 220),
            sizes=(56, 30),
            max_lines=2,
            colour=INK,
            top=top + 20,
        )
        _text(
            drawing,
            "cta",
            "Full review: link in the description",
            REGULAR,
            (STAGE[0], top + 30, STAGE[2], STAGE[3]),
            sizes=(40, 26),
            max_lines=2,
            colour=MUTED,
            top=top + 30,
        )
    if caption:
        draw_caption(drawing, caption)
    return drawing


def draw_caption(drawing: Drawing, text: str) -> None:
    """The spoken words on a dark box at the foot of the safe zone, up to three lines."""
    inner = (CAPTION[0] + CAPTION_PAD, CAPTION[1] + CAPTION_PAD, CAPTION[2] - CAPTION_PAD, CAPTION[3] - CAPTION_PAD)
    font, lines = fit(text, BOLD, inner, sizes=(54, 30), max_lines=3)
    height = len(lines) * int(font.size * 1.2)
    top = inner[3] - height
    back = (CAPTION[0], top - CAPTION_PAD, CAPTION[2], CAPTION[3])
    overlay = Image.new("RGBA", drawing.image.size, (0, 0, 0, 0))
    ImageDraw.Draw(overlay).rounded_rectangle(back, radius=20, fill=(0, 0, 0, 190))
    drawing.image = Image.alpha_composite(drawing.image.convert("RGBA"), overlay).convert("RGB")
    drawing.boxes.append(("caption_box", back))
    _draw_lines(drawing, "caption", lines, font, box=inner, colour=INK, top=top)
