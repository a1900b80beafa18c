"""Fonts and text fitting: wrap text to a width, shrink it to a height, record where it goes.

Layout functions build ``TextBox`` es with these helpers and draw nothing; drawing
functions draw exactly those boxes. So the boxes a layout returns are the ink that
ends up on the image, and tests can hold them against the canvas.

Every measurement is the font's own ink box (``FreeTypeFont.getbbox``) for the exact
string that will be drawn, with the same anchor, so accents above capitals, italic
overhangs and descenders are all counted.
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from services.social.look import Fonts

log = logging.getLogger("marquee.social")

ELLIPSIS = "…"
ANCHOR = "la"  # x at the left edge, y at the font's ascender line

Box = tuple[int, int, int, int]  # left, top, right, bottom


# --- fonts -------------------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def _load(path: str, size: int) -> ImageFont.FreeTypeFont:
    if Path(path).is_file():
        return ImageFont.truetype(path, size)
    _warn_missing(path)
    return ImageFont.load_default(size=size)  # type: ignore[return-value]  # FreeType is built in


@functools.cache
def _warn_missing(path: str) -> None:
    log.warning(
        "font %s not found; using Pillow's built-in font, which lacks many accented and "
        "non-Latin letters (install Debian's fonts-dejavu-core)",
        path,
    )


def font(fonts: Fonts, role: str, size: int) -> ImageFont.FreeTypeFont:
    """The font for a role ("title", "label", "text", "quote", "quote_wide") at a pixel size."""
    return _load(str(fonts.directory / getattr(fonts, role)), size)


def fonts_available(fonts: Fonts) -> bool:
    """True when every font file of ``fonts`` is there (else Pillow's built-in stands in)."""
    return _files_exist(
        tuple(str(fonts.directory / getattr(fonts, role)) for role in ("title", "label", "text", "quote"))
    )


@functools.lru_cache(maxsize=16)
def _files_exist(paths: tuple[str, ...]) -> bool:
    return all(Path(p).is_file() for p in paths)


# --- text cleaning -----------------------------------------------------------------------

_INVISIBLE = re.compile(r"[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff]")


# Pictographic emoji, their modifiers and tag sequences: no font here has them, and a row
# of empty boxes in a title looks broken, so the images leave them out (the text keeps them).
_EMOJI = re.compile(r"[\U0001F000-\U0001FAFF\U000E0020-\U000E007F\uFE0E\uFE0F\u20E3]")


def clean_line(text: str) -> str:
    """One line of drawable text: NFC, no control or invisible characters, no emoji,
    single spaces. Text that is nothing but emoji keeps them (boxes beat a blank)."""
    text = _INVISIBLE.sub(" ", unicodedata.normalize("NFC", text))
    drawable = " ".join(_EMOJI.sub(" ", text).split())
    return drawable or " ".join(text.split())


_FOLD = str.maketrans({"ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE",
                       "ß": "ss", "đ": "d", "Đ": "D", "þ": "th", "Þ": "Th", "ð": "d", "Ð": "D", "ı": "i"})  # fmt: skip


def fold_accents(text: str) -> str:
    """``Céline Łopieńska`` → ``Celine Lopienska``: for Pillow's built-in font, which has
    no accented letters, a plain letter reads better than an empty box."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_FOLD))
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))


def is_rtl(text: str) -> bool:
    """True when the first letter with a direction is right-to-left (Arabic, Hebrew…)."""
    for c in text:
        direction = unicodedata.bidirectional(c)
        if direction in ("R", "AL"):
            return True
        if direction == "L":
            return False
    return False


# --- measuring and fitting ---------------------------------------------------------------


@dataclass(frozen=True)
class TextBox:
    """One line of text as drawn: ``text`` at ``origin`` (anchor "la") in ``font_role`` at
    ``size``; ``box`` is its ink, in canvas pixels."""

    role: str  # what it is on the card: "title", "quote", "byline"…
    text: str
    font_role: str
    size: int
    origin: tuple[int, int]
    box: Box
    colour: str


@dataclass(frozen=True)
class Block:
    """Lines fitted to a width: offsets are relative to the block's top-left corner."""

    lines: list[str]
    font_role: str
    size: int
    advance: int  # baseline to baseline
    boxes: list[Box]  # ink of each line, relative to (0, 0) with line i at y = i * advance
    complete: bool  # False when text was cut short with an ellipsis

    @property
    def top(self) -> int:
        return min((b[1] for b in self.boxes), default=0)

    @property
    def bottom(self) -> int:
        return max((b[3] for b in self.boxes), default=0)

    @property
    def height(self) -> int:
        """From the top of the ink to its bottom: what the block takes up on the canvas."""
        return self.bottom - self.top

    @property
    def width(self) -> int:
        return max((b[2] for b in self.boxes), default=0)

    def place(self, x: int, y: int, *, role: str, colour: str, right: int | None = None) -> list[TextBox]:
        """The block's lines as boxes: the ink's top at ``y``; each line's ink starting at
        ``x`` (an overhang to the left is moved in), or, given ``right``, ending there."""
        out = []
        top = y - self.top  # where line 0's origin goes; b already holds i * advance
        for i, (line, b) in enumerate(zip(self.lines, self.boxes, strict=False)):
            ox = x - min(b[0], 0) if right is None else right - b[2]
            box = (ox + b[0], top + b[1], ox + b[2], top + b[3])
            out.append(TextBox(role, line, self.font_role, self.size, (ox, top + i * self.advance), box, colour))
        return out


def ink(f: ImageFont.FreeTypeFont, text: str) -> Box:
    """Ink box of ``text`` drawn at (0, 0) with the layout's anchor; empty text has none."""
    if not text:
        return (0, 0, 0, 0)
    left, top, right, bottom = f.getbbox(text, anchor=ANCHOR)
    return (int(left), int(top), int(right), int(bottom))


def fits(f: ImageFont.FreeTypeFont, text: str, width: int) -> bool:
    left, _, right, _ = ink(f, text)
    return right - min(left, 0) <= width  # an overhang to the left is moved in when placed


def _break_word(f: ImageFont.FreeTypeFont, word: str, width: int) -> tuple[str, str]:
    """The longest head of ``word`` that fits (at least one character), and the rest."""
    lo, hi = 1, len(word)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(f, word[:mid], width):
            lo = mid
        else:
            hi = mid - 1
    return word[:lo], word[lo:]


def wrap(f: ImageFont.FreeTypeFont, text: str, width: int, *, max_lines: int | None = None) -> list[str]:
    """Greedy word wrap; a word wider than the line is broken between characters.

    Stops early once ``max_lines`` is exceeded (the caller then shrinks or cuts), so a
    huge text costs no more than the lines that could be shown.
    """
    lines: list[str] = []
    current = ""
    words = text.split(" ")
    i = 0
    while i < len(words):
        word = words[i]
        candidate = f"{current} {word}" if current else word
        if fits(f, candidate, width):
            current = candidate
            i += 1
            continue
        if current:
            lines.append(current)
            current = ""
        else:  # a single word too wide for a line of its own
            head, rest = _break_word(f, word, width)
            lines.append(head)
            words[i] = rest
            if not rest:
                i += 1
        if max_lines is not None and len(lines) > max_lines:
            return lines
    if current:
        lines.append(current)
    return lines


def _rest(text: str, lines: list[str]) -> str:
    """What of ``text`` follows ``lines`` (each a piece of it, in order)."""
    pos = 0
    for line in lines:
        found = text.find(line, pos)
        if found < 0:
            break
        pos = found + len(line)
    return text[pos:].lstrip()


def _with_ellipsis(f: ImageFont.FreeTypeFont, line: str, width: int) -> str:
    """``line`` shortened to fit ``width`` with an ellipsis: at a space if one is near the
    end of what fits, else between characters (a 99-letter name keeps most of itself)."""
    lo, hi = 0, len(line)
    while lo < hi:  # the longest head that fits with the ellipsis
        mid = (lo + hi + 1) // 2
        if fits(f, line[:mid].rstrip() + ELLIPSIS, width):
            lo = mid
        else:
            hi = mid - 1
    head = line[:lo]
    if lo < len(line) and " " in head[len(head) // 2 :]:
        head = head.rsplit(" ", 1)[0]
    return head.rstrip(" ,;:—–-") + ELLIPSIS


def _block(
    f: ImageFont.FreeTypeFont, lines: list[str], font_role: str, size: int, leading: float, complete: bool
) -> Block:
    ascent, descent = f.getmetrics()
    advance = max(1, round((ascent + descent) * leading))
    boxes = [ink(f, line) for line in lines]
    boxes = [(b[0], b[1] + i * advance, b[2], b[3] + i * advance) for i, b in enumerate(boxes)]
    return Block(lines, font_role, size, advance, boxes, complete)


def fit(
    fonts: Fonts,
    text: str,
    *,
    font_role: str,
    width: int,
    height: int,
    sizes: tuple[int, int],
    leading: float = 1.15,
    max_lines: int | None = None,
    step: int = 2,
) -> Block:
    """The largest size from ``sizes[0]`` down to ``sizes[1]`` at which ``text`` wraps into
    ``width`` × ``height`` (and ``max_lines``); if even the smallest is too big, the
    smallest size with as many lines as fit and the last one ended with an ellipsis."""
    text = clean_line(text)
    if not fonts_available(fonts):
        text = fold_accents(text)
    largest, smallest = sizes

    def attempt(size: int) -> tuple[Block, list[str], bool]:
        f = font(fonts, font_role, size)
        lines = wrap(f, text, width, max_lines=max_lines)
        block = _block(f, lines, font_role, size, leading, True)
        return block, lines, (max_lines is None or len(lines) <= max_lines) and block.height <= height

    block, lines, ok = attempt(largest)
    if ok:
        return block
    # Binary search on size: a text that fits at one size fits at any smaller one
    # (near enough), so this finds the largest in a handful of tries.
    candidates = [*range(largest - step, smallest, -step), smallest] if largest > smallest else []
    lo, hi, best = 0, len(candidates) - 1, None
    while lo <= hi:
        mid = (lo + hi) // 2
        candidate, _candidate_lines, ok = attempt(candidates[mid])
        if ok:
            best, hi = candidate, mid - 1
        else:
            lo = mid + 1
    if best is not None:
        return best
    f = font(fonts, font_role, smallest)
    lines = wrap(f, text, width, max_lines=max_lines)
    # Cut: keep the lines that fit, the last one ending in an ellipsis.
    ascent, descent = f.getmetrics()
    advance = max(1, round((ascent + descent) * leading))
    room = max(1, (height - (ascent + descent)) // advance + 1)
    if max_lines is not None:
        room = min(room, max_lines)
    while True:
        if len(lines) <= room:
            block = _block(f, lines, font_role, smallest, leading, True)
        else:
            kept = lines[:room]
            # The last line shown takes the rest of the text, cut with an ellipsis.
            kept[-1] = _with_ellipsis(f, _rest(text, lines[: room - 1]), width)
            block = _block(f, kept, font_role, smallest, leading, False)
        if block.height <= height or room == 1:
            return block
        room = min(room, len(lines)) - 1


def fit_line(fonts: Fonts, text: str, *, font_role: str, width: int, sizes: tuple[int, int]) -> Block:
    """One line: shrink to fit the width, then cut with an ellipsis."""
    return fit(fonts, text, font_role=font_role, width=width, height=10**6, sizes=sizes, max_lines=1)


def draw_boxes(draw: ImageDraw.ImageDraw, fonts: Fonts, boxes: list[TextBox]) -> None:
    for tb in boxes:
        draw.text(tb.origin, tb.text, font=font(fonts, tb.font_role, tb.size), fill=tb.colour, anchor=ANCHOR)


def union(boxes: list[Box]) -> Box:
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def place_centred(block: Block, cx: float, cy: float, *, role: str, colour: str) -> list[TextBox]:
    """A one-line block with its ink centred on (cx, cy)."""
    b = block.boxes[0]
    ox = round(cx - (b[0] + b[2]) / 2)
    oy = round(cy - (b[1] + b[3]) / 2)
    return [
        TextBox(
            role,
            block.lines[0],
            block.font_role,
            block.size,
            (ox, oy),
            (ox + b[0], oy + b[1], ox + b[2], oy + b[3]),
            colour,
        )
    ]


def glyph_block(fonts: Fonts, text: str, *, font_role: str, size: int) -> Block:
    """A short decoration (a quote mark) measured by its rendered ink, which for
    punctuation is much tighter than ``getbbox`` (that reaches down to the baseline)."""
    f = font(fonts, font_role, size)
    left, top, right, bottom = ink(f, text)
    pad = size
    scratch = Image.new("L", (right - min(left, 0) + 2 * pad, bottom - min(top, 0) + 2 * pad), 0)
    ImageDraw.Draw(scratch).text((pad, pad), text, font=f, fill=255, anchor=ANCHOR)
    found = scratch.getbbox()
    box = (found[0] - pad, found[1] - pad, found[2] - pad, found[3] - pad) if found else (0, 0, 0, 0)
    ascent, descent = f.getmetrics()
    return Block([text], font_role, size, ascent + descent, [box], True)
