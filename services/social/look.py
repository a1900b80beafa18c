"""The look of the social images, in one place: colours, fonts, sizes, margins, JPEG settings.

Everything that draws (``card.py``, ``thumbnail.py``) takes a ``Look`` and defaults
to ``LOOK``; a site restyles its cards by building another ``Look``, e.g.
``dataclasses.replace(LOOK, site_name="Reel Talk", palette=replace(LOOK.palette, accent="#0a84ff"))``.
Layout (what goes where, and how text is fitted) never hard-codes a colour or a size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

Colour = str  # "#rrggbb"


@dataclass(frozen=True)
class Palette:
    background_top: Colour = "#1c1b22"
    background_bottom: Colour = "#0b0b0e"
    ink: Colour = "#f7f4ee"  # titles and quotes: ~17:1 on the background
    muted: Colour = "#b4b0a8"  # meta lines and footers: ~9:1
    accent: Colour = "#e2483d"  # the site's red: wordmark, quote mark, rules
    star_on: Colour = "#f5b71f"
    star_off: Colour = "#3d3c45"
    verdict_ink: Colour = "#ffffff"  # text on the verdict pill (which is accent)


@dataclass(frozen=True)
class Fonts:
    """Font files, by role. DejaVu (Debian: fonts-dejavu-core) covers Latin with every
    accent, Greek, Cyrillic, Arabic and Hebrew; CJK and emoji draw as boxes."""

    directory: Path = Path("/usr/share/fonts/truetype/dejavu")
    title: str = "DejaVuSans-Bold.ttf"
    label: str = "DejaVuSans-Bold.ttf"  # wordmark, byline, verdict, badge
    text: str = "DejaVuSans.ttf"  # meta lines, footers
    quote: str = "DejaVuSerif-Italic.ttf"
    # DejaVu Serif has no Arabic or Hebrew; a quote that needs them is set in this.
    quote_wide: str = "DejaVuSans-Oblique.ttf"


@dataclass(frozen=True)
class CardLook:
    """``instagram/card.jpg``: 4:5 portrait, the largest size Instagram keeps."""

    width: int = 1080
    height: int = 1350
    margin: int = 84
    accent_bar: int = 14  # a band of accent colour along the top edge (inside the margin)
    header_size: int = 30  # wordmark
    badge_diameter: int = 104
    title_sizes: tuple[int, int] = (140, 46)  # largest, smallest: long titles shrink
    title_max_height: int = 470  # room for a 200-character title at the smallest size
    # The title gives up room (down to this size) while the quote is smaller than this.
    title_comfortable_size: int = 100
    quote_comfortable_size: int = 54
    title_leading: float = 0.96
    meta_size: int = 32
    star_size: int = 76
    star_gap: int = 14
    quote_sizes: tuple[int, int] = (62, 32)
    quote_leading: float = 1.22
    quote_mark_size: int = 150
    byline_size: int = 36
    footer_size: int = 26
    gap: int = 36  # between blocks
    max_bytes: int = 8 * 1024 * 1024


@dataclass(frozen=True)
class ThumbnailLook:
    """``youtube/thumbnail.jpg``: 16:9, read at 168×94 in a sidebar, so few, large things."""

    width: int = 1280
    height: int = 720
    margin: int = 64
    accent_bar: int = 18  # down the left edge
    header_size: int = 30
    badge_diameter: int = 100
    title_sizes: tuple[int, int] = (150, 72)  # below 72 px a title is unreadable in a sidebar
    title_max_lines: int = 3
    title_leading: float = 1.04
    star_size: int = 80
    star_gap: int = 12
    verdict_sizes: tuple[int, int] = (64, 36)
    gap: int = 30
    max_bytes: int = 2 * 1024 * 1024


@dataclass(frozen=True)
class JpegSettings:
    """Chosen with ``python -m services.social.bench`` (figures in docs/SOCIAL.md).

    4:4:4 (no chroma subsampling) keeps red and gold edges on the dark ground clean;
    optimised Huffman tables cost little CPU and save bytes; progressive adds CPU
    and, on flat graphics, saves almost nothing.
    """

    quality: int = 90
    optimize: bool = True
    progressive: bool = False
    subsampling: int = 0  # 0 = 4:4:4, 1 = 4:2:2, 2 = 4:2:0


# BBFC symbol colours (approximate, a shade darker where white text needs it: the badge
# text is large and bold, so WCAG asks 3:1) and the text colour that reads on each.
CERTIFICATE_COLOURS: dict[str, tuple[Colour, Colour]] = {
    "U": ("#15913f", "#ffffff"),
    "PG": ("#f7c600", "#111111"),
    "12A": ("#d8620e", "#ffffff"),
    "12": ("#d8620e", "#ffffff"),
    "15": ("#e4288f", "#ffffff"),
    "18": ("#dc1f26", "#ffffff"),
    "R18": ("#15151a", "#ffffff"),
}
UNKNOWN_CERTIFICATE: tuple[Colour, Colour] = ("#6b6b74", "#ffffff")


@dataclass(frozen=True)
class Look:
    site_name: str = "Marquee"
    kicker: str = "Film review"
    card_footer: str = "Full review: link in bio"
    palette: Palette = field(default_factory=Palette)
    fonts: Fonts = field(default_factory=Fonts)
    card: CardLook = field(default_factory=CardLook)
    thumbnail: ThumbnailLook = field(default_factory=ThumbnailLook)
    jpeg: JpegSettings = field(default_factory=JpegSettings)
    certificate_colours: dict[str, tuple[Colour, Colour]] = field(default_factory=lambda: dict(CERTIFICATE_COLOURS))

    def certificate_colour(self, certificate: str) -> tuple[Colour, Colour]:
        return self.certificate_colours.get(certificate, UNKNOWN_CERTIFICATE)


LOOK = Look()
