"""The card and the thumbnail: real JPEGs of the right size, text laid out inside the canvas."""

from __future__ import annotations

import io
import logging
import math
from dataclasses import replace
from itertools import combinations
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageCms, ImageDraw, ImageFont
from social_corpus import CORPUS, LONG_TITLE, instagram_for, youtube_for

from services.social import typeset
from services.social.card import card_background, card_layout, draw_card, instagram_card
from services.social.look import LOOK, Fonts
from services.social.samples import review
from services.social.shapes import STAR_INNER, StarRow, clip_left, draw_stars, star_points
from services.social.text import verdict
from services.social.thumbnail import draw_thumbnail, thumbnail_background, thumbnail_layout, youtube_thumbnail
from services.social.typeset import font, wrap

DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def open_jpeg(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def profile_description(image: Image.Image) -> str:
    icc = image.info.get("icc_profile")
    assert icc, "no ICC profile embedded"
    return ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc)))


# --- the files ---------------------------------------------------------------------------


def test_card_is_a_4_5_srgb_jpeg_under_8_mb(name: str) -> None:
    data = instagram_for(name)["instagram/card.jpg"]
    image = open_jpeg(data)
    assert image.format == "JPEG"
    assert image.mode == "RGB"
    assert image.size == (1080, 1350)
    assert image.width * 5 == image.height * 4
    assert len(data) < 8 * 1024 * 1024
    assert "srgb" in profile_description(image).lower()
    assert data[:3] == b"\xff\xd8\xff"


def test_thumbnail_is_a_16_9_jpeg_under_2_mb(name: str) -> None:
    data = youtube_for(name)["youtube/thumbnail.jpg"]
    image = open_jpeg(data)
    assert image.format == "JPEG"
    assert image.mode == "RGB"
    assert image.size == (1280, 720)
    assert len(data) < 2 * 1024 * 1024
    assert "srgb" in profile_description(image).lower()


def test_images_are_deterministic() -> None:
    r = CORPUS["harbour-lights-2026"]
    assert instagram_card(r) == instagram_card(r)
    assert youtube_thumbnail(r) == youtube_thumbnail(r)


# --- the layout --------------------------------------------------------------------------


def _inside(box, area) -> bool:
    return box[0] >= area[0] and box[1] >= area[1] and box[2] <= area[2] and box[3] <= area[3]


@pytest.mark.parametrize("make", [card_layout, thumbnail_layout], ids=["card", "thumbnail"])
def test_every_text_box_lies_within_the_canvas_minus_margins(make, name: str) -> None:
    layout = make(CORPUS[name])
    margin = layout.margin
    area = (margin, margin, layout.width - margin, layout.height - margin)
    assert layout.texts
    for tb in layout.texts:
        assert _inside(tb.box, area), f"{tb.role} {tb.text!r} {tb.box} outside {area}"
        if tb.role == "quote_mark":
            continue  # measured from its rendered ink (tighter); the pixel test checks it
        # The box is what the font itself reports for this text at this place.
        f = font(LOOK.fonts, tb.font_role, tb.size)
        assert tuple(round(v) for v in f.getbbox(tb.text, anchor="la")) == tuple(
            b - o for b, o in zip(tb.box, (*tb.origin, *tb.origin), strict=False)
        )
    for shape in [layout.stars.box, layout.badge.box, *(box for _, box, _, _ in layout.rects)]:
        assert _inside(shape, area)
    assert layout.fits(), layout.overflows()


@pytest.mark.parametrize("make", [card_layout, thumbnail_layout], ids=["card", "thumbnail"])
def test_nothing_overlaps(make, name: str) -> None:
    layout = make(CORPUS[name])
    things = [(f"{t.role}:{t.text}", t.box) for t in layout.texts if t.role not in ("badge", "verdict")]
    things += [("stars", layout.stars.box), ("badge", layout.badge.box)] + [(r, b) for r, b, _, _ in layout.rects]
    for (a, box_a), (b, box_b) in combinations(things, 2):
        if a.split(":")[0] == b.split(":")[0]:
            continue  # lines of one block may touch
        overlap = box_a[0] < box_b[2] and box_b[0] < box_a[2] and box_a[1] < box_b[3] and box_b[1] < box_a[3]
        assert not overlap, f"{a} {box_a} overlaps {b} {box_b}"


@pytest.mark.parametrize(
    "make, draw, background",
    [(card_layout, draw_card, card_background), (thumbnail_layout, draw_thumbnail, thumbnail_background)],
    ids=["card", "thumbnail"],
)
def test_no_ink_outside_the_margins(make, draw, background, name: str) -> None:
    """Pixels, not boxes: outside the content area the drawn image is the bare background."""
    layout = make(CORPUS[name])
    drawn, bare = draw(layout), background()
    diff = ImageChops.difference(drawn, bare).convert("L")
    mask = Image.new("L", drawn.size, 255)
    ImageDraw.Draw(mask).rectangle(
        (layout.margin, layout.margin, layout.width - layout.margin - 1, layout.height - layout.margin - 1), fill=0
    )
    outside = ImageChops.multiply(diff, mask)
    assert outside.getbbox() is None, f"ink outside the margins at {outside.getbbox()}"
    # …and inside it, everything drawn lies in some box the layout reported.
    boxes = Image.new("L", drawn.size, 255)
    d = ImageDraw.Draw(boxes)
    for tb in layout.texts:
        d.rectangle((tb.box[0], tb.box[1], tb.box[2] - 1, tb.box[3] - 1), fill=0)
    for box in [layout.stars.box, layout.badge.box, *(b for _, b, _, _ in layout.rects)]:
        d.rectangle((box[0], box[1], box[2] - 1, box[3] - 1), fill=0)
    stray = ImageChops.multiply(diff.point(lambda v: 255 if v > 8 else 0), boxes)
    assert stray.getbbox() is None, f"ink outside every reported box at {stray.getbbox()}"


def test_the_card_shows_title_stars_quote_byline_and_certificate() -> None:
    r = CORPUS["harbour-lights-2026"]
    layout = card_layout(r)
    assert layout.text("title") == "Harbour Lights"
    assert layout.text("badge") == "12A"
    assert layout.text("byline") == "Review by Priya Ramanathan"
    assert layout.quote and layout.quote in layout.text("quote").replace("“", "").replace("”", "")
    assert layout.stars and layout.stars.rating == 4
    assert layout.badge and layout.badge.certificate == "12A"


def test_a_200_character_title_is_shown_whole_on_the_card() -> None:
    layout = card_layout(CORPUS["long-title"])
    assert layout.title_complete
    assert layout.text("title") == LONG_TITLE
    assert min(t.size for t in layout.texts if t.role == "title") < LOOK.card.title_sizes[0]


def test_a_one_letter_title_is_drawn_at_the_largest_size() -> None:
    for make, sizes in ((card_layout, LOOK.card.title_sizes), (thumbnail_layout, LOOK.thumbnail.title_sizes)):
        titles = [t for t in make(CORPUS["one-letter-title"]).texts if t.role == "title"]
        assert [t.text for t in titles] == ["M"]
        assert titles[0].size == sizes[0]


def test_long_titles_shrink_before_they_wrap_further() -> None:
    short = [t.size for t in card_layout(review(title="Her")).texts if t.role == "title"]
    long = [t.size for t in card_layout(CORPUS["long-title"]).texts if t.role == "title"]
    assert long[0] < short[0]


def test_a_title_without_spaces_is_broken_between_characters() -> None:
    layout = card_layout(CORPUS["unbroken-title"])
    lines = [t for t in layout.texts if t.role == "title"]
    assert len(lines) > 1
    assert layout.fits(), layout.overflows()


def test_the_thumbnail_title_stays_large_and_within_three_lines(name: str) -> None:
    titles = [t for t in thumbnail_layout(CORPUS[name]).texts if t.role == "title"]
    assert 1 <= len(titles) <= 3
    assert all(t.size >= LOOK.thumbnail.title_sizes[1] for t in titles)


def test_a_title_too_long_for_the_thumbnail_ends_in_an_ellipsis() -> None:
    layout = thumbnail_layout(CORPUS["long-title"])
    assert not layout.title_complete
    assert layout.text("title").endswith("…")
    assert LONG_TITLE.startswith(layout.text("title")[:-1].rstrip().split(" ")[0])


def test_the_thumbnail_has_one_short_verdict_line(name: str) -> None:
    r = CORPUS[name]
    layout = thumbnail_layout(r)
    verdicts = [t for t in layout.texts if t.role == "verdict"]
    assert len(verdicts) == 1
    assert verdicts[0].text == verdict(r.rating).upper()
    assert len(verdicts[0].text) <= 20
    assert verdicts[0].size >= LOOK.thumbnail.verdict_sizes[1]


def test_the_thumbnail_is_legible_at_sidebar_size() -> None:
    """At 168×94 (YouTube's sidebar) the title's letters are still ≥ 9 px tall."""
    for key in ("harbour-lights-2026", "a-very-long-title-2024", "long-title"):
        layout = thumbnail_layout(CORPUS[key])
        scale = 168 / layout.width
        heights = [(t.box[3] - t.box[1]) * scale for t in layout.texts if t.role == "title"]
        assert min(heights) >= 9, (key, heights)
        assert layout.stars and layout.stars.size * scale >= 9


# --- stars ---------------------------------------------------------------------------------


def test_star_polygon_has_ten_points_on_two_radii() -> None:
    points = star_points(50, 50, 40)
    assert len(points) == 10
    radii = sorted(round(math.dist(p, (50, 50)), 6) for p in points)
    assert radii[:5] == [round(40 * STAR_INNER, 6)] * 5 and radii[5:] == [40.0] * 5
    assert min(p[1] for p in points) == pytest.approx(10)  # point up


def test_half_star_is_clipped_at_the_centre() -> None:
    half = clip_left(star_points(50, 50, 40), 50)
    assert max(x for x, _ in half) == pytest.approx(50)
    assert min(x for x, _ in half) == pytest.approx(min(x for x, _ in star_points(50, 50, 40)))


@pytest.mark.parametrize("rating", [0, 0.5, 1, 2.5, 3, 4.5, 5])
def test_stars_are_drawn_gold_up_to_the_rating(rating: float) -> None:
    size, gap = 60, 10
    image = Image.new("RGB", (5 * size + 4 * gap, size), "black")
    draw_stars(image, StarRow(0, 0, size, gap, rating), on="#ffcc00", off="#404040")
    gold = []
    for i in range(5):
        left = i * (size + gap)
        for x in (left + size // 2 - 6, left + size // 2 + 6):  # just left and right of centre
            pixel = image.getpixel((x, size // 2 + 4))
            assert isinstance(pixel, tuple)  # an RGB image's pixels are (r, g, b)
            r, g, b = pixel
            gold.append(r > 200 and g > 150 and b < 80)
    expected = []
    for i in range(5):
        filled = min(max(rating - i, 0), 1)
        expected += [filled > 0, filled >= 1]
    assert gold == expected


# --- fonts ---------------------------------------------------------------------------------


@pytest.mark.skipif(not DEJAVU.is_file(), reason="fonts-dejavu-core is not installed")
def test_accented_letters_are_real_glyphs_not_boxes() -> None:
    f = ImageFont.truetype(str(DEJAVU), 64)

    def glyph(letter: str) -> bytes:
        image = Image.new("L", (120, 120))
        ImageDraw.Draw(image).text((20, 20), letter, font=f, fill=255)
        return image.tobytes()

    missing = glyph("\U0010fffd")  # a code point no font has: the "notdef" box
    for letter in "éèëÅøŁłŒçňşț":
        assert glyph(letter) != missing, letter
    assert glyph("é") != glyph("e")
    assert glyph("あ") == missing  # the check can fail: DejaVu has no kana


@pytest.mark.skipif(not DEJAVU.is_file(), reason="fonts-dejavu-core is not installed")
def test_the_look_uses_dejavu() -> None:
    assert typeset.fonts_available(LOOK.fonts)
    assert font(LOOK.fonts, "title", 40).getname()[0] == "DejaVu Sans"


def test_without_dejavu_pillow_s_font_is_used_with_a_warning(caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    typeset._warn_missing.cache_clear()
    look = replace(LOOK, fonts=Fonts(directory=tmp_path / "no-fonts"))
    with caplog.at_level(logging.WARNING, logger="marquee.social"):
        layout = card_layout(CORPUS["accented"], look)
        data = instagram_card(CORPUS["accented"], look, layout=layout)
        thumb = youtube_thumbnail(CORPUS["japanese"], look)
    assert any("fonts-dejavu-core" in record.getMessage() for record in caplog.records)
    assert open_jpeg(data).size == (1080, 1350) and open_jpeg(thumb).size == (1280, 720)
    assert layout.fits(), layout.overflows()
    assert thumbnail_layout(CORPUS["long-title"], look).fits()
    # That font has no accents: they are folded to plain letters rather than drawn as boxes.
    assert "Celine Sciamma-Dupre" in layout.text("meta")
    assert layout.text("byline") == "Review by Zoe Lopienska"


def test_wrap_never_loses_or_adds_text() -> None:
    f = font(LOOK.fonts, "quote", 40)
    text = "A sentence with several words and one enormously-long-hyphenated-compound-that-cannot-fit-on-a-line"
    lines = wrap(f, text, 300)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")
    assert all(f.getbbox(line)[2] <= 300 for line in lines)


@pytest.mark.parametrize("length", [1, 60, 160, 400, 2000])
def test_any_quote_length_fits_the_card(length: int) -> None:
    words = ("Unforgettable " * (length // 14 + 1))[:length].strip() or "A"
    layout = card_layout(CORPUS["long-title"], quote=words + ".")
    assert layout.fits(), layout.overflows()
    shown = layout.text("quote")
    assert shown, "the quote vanished"
    if length <= 160:
        assert shown.replace("“", "").replace("”", "") == words + "."


def test_the_palette_has_readable_contrast() -> None:
    from services.social.shapes import contrast

    p = LOOK.palette
    for ground in (p.background_top, p.background_bottom):
        assert contrast(p.ink, ground) >= 7  # body text: WCAG AAA
        assert contrast(p.muted, ground) >= 4.5  # small meta text: AA
        assert contrast(p.accent, ground) >= 3  # large bold wordmark and marks
        assert contrast(p.star_on, ground) >= 3 and contrast(p.star_on, p.star_off) >= 3
    assert contrast(p.verdict_ink, p.accent) >= 3  # large bold text on the pill
    for certificate in ("U", "PG", "12A", "12", "15", "18", "R18"):
        fill, ink = LOOK.certificate_colour(certificate)
        assert contrast(ink, fill) >= 3, certificate  # large bold text on the badge
