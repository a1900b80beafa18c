"""How the site writes a review's facts: stars, runtime, dates, summaries, and text with
nothing a page or feed may not carry. Pure functions, used by every stage that writes
what readers see (the article, the index and feeds, the social teasers)."""

from __future__ import annotations

import re
from datetime import date, datetime

from shared.site.look import BEST_RATING

# Code points HTML forbids in text and XML 1.0 cannot carry at all: controls (but tab and
# newlines), lone surrogates and noncharacters. A writer's text may hold them; no page or
# feed will.
_FORBIDDEN = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef"
    + "".join(f"{chr(plane << 16 | 0xFFFE)}{chr(plane << 16 | 0xFFFF)}" for plane in range(17))
    + "]"
)


def clean(text: str) -> str:
    """``text`` without the code points no page or feed may contain."""
    return _FORBIDDEN.sub("", text)


def stars_text(rating: float) -> str:
    """What a screen reader says, and what people search for: "3.5 out of 5 stars"."""
    return f"{rating:g} out of {BEST_RATING} stars"


def stars_glyphs(rating: float) -> str:
    full = int(rating)
    half = "½" if rating - full >= 0.5 else ""
    return "★" * full + half + "☆" * (BEST_RATING - full - (1 if half else 0))


def star_kinds(rating: float) -> list[str]:
    """``["full", "full", "full", "half", "empty"]`` for 3.5: what the stylesheet draws."""
    return ["full" if g == "★" else "half" if g == "½" else "empty" for g in stars_glyphs(rating)]


def format_runtime(minutes: int) -> str:
    hours, mins = divmod(minutes, 60)
    return f"{hours}h {mins:02d}m" if hours else f"{mins} min"


def html_datetime(value: datetime) -> str:
    """A ``<time datetime>`` value: HTML allows at most three digits of a second, and real
    timestamps carry six (``2026-12-03T10:28:40.067+00:00``, never ``…40.067880+00:00``)."""
    return value.isoformat(timespec="milliseconds")


def format_date(value: date) -> str:
    return f"{value.day} {value.strftime('%B %Y')}"


def shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:") + "…"
