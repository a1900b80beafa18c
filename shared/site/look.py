"""The site's name, language, rating scale, where its catalogue lives, and its palette.

The palette is in one place so a test can check every pairing the stylesheet makes
against WCAG AA (4.5:1 for text); the stylesheet uses these as CSS variables and no
colour of its own.
"""

from __future__ import annotations

SITE_NAME = "Marquee"
LANGUAGE = "en-GB"  # the pages' lang; reviews are written for a British audience (BBFC certificates)
BEST_RATING = 5
WORST_RATING = 0

# Where the catalogue's public files are, from the publish store's root. Pages link to them
# relatively, so the site works wherever it is served from (S3, a CDN, `make run`'s /site/).
INDEX_KEY = "index.html"
JSON_FEED_KEY = "feeds/reviews.json"
ATOM_FEED_KEY = "feeds/reviews.atom"

PALETTES: dict[str, dict[str, str]] = {
    "light": {
        "ink": "#1b1b1f",
        "muted": "#55555f",
        "paper": "#fbfaf7",
        "card": "#ffffff",
        "accent": "#b3261e",
        "star": "#a35200",
        "rule": "#dcd8cf",
        "mast": "#1b1b1f",
        "mast-ink": "#f3efe6",
        "mast-accent": "#f0b454",
    },
    "dark": {
        "ink": "#ecebe6",
        "muted": "#b4b2aa",
        "paper": "#141417",
        "card": "#1e1e23",
        "accent": "#ff8a80",
        "star": "#f0b454",
        "rule": "#34343b",
        "mast": "#0b0b0d",
        "mast-ink": "#f3efe6",
        "mast-accent": "#f0b454",
    },
}
# (text colour, background colour) for every place the stylesheet puts text on a background.
TEXT_PAIRS: list[tuple[str, str]] = [
    ("ink", "paper"),
    ("muted", "paper"),
    ("accent", "paper"),
    ("star", "paper"),
    ("ink", "card"),
    ("muted", "card"),
    ("accent", "card"),
    ("star", "card"),
    ("mast-ink", "mast"),
    ("mast-accent", "mast"),
    ("paper", "ink"),
]


def relative_luminance(colour: str) -> float:
    """WCAG 2.x relative luminance of a ``#rrggbb`` colour."""
    value = colour.lstrip("#")
    channels = [int(value[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(foreground: str, background: str) -> float:
    lighter, darker = sorted((relative_luminance(foreground), relative_luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)
