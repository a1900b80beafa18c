"""``youtube/thumbnail.jpg``: 1280×720, read at the size of a stamp. Pure: review in, bytes out.

Few things, large: the title (up to three lines, as big as fits), the stars, and a
one-word-or-so verdict on a pill, with the certificate beside them. ``thumbnail_layout``
places them (returning the boxes it will draw), ``draw_thumbnail`` draws them,
``youtube_thumbnail`` encodes the JPEG.
"""

from __future__ import annotations

from PIL import Image

from services.social.canvas import Layout, draw_layout
from services.social.jpeg import encode
from services.social.look import LOOK, Look
from services.social.shapes import Badge, StarRow, backdrop
from services.social.text import verdict
from services.social.typeset import fit, fit_line, is_rtl, place_centred
from shared.models import Review


def verdict_line(review: Review) -> str:
    return verdict(review.rating).upper()


def thumbnail_layout(review: Review, look: Look = LOOK) -> Layout:
    t, p, fonts = look.thumbnail, look.palette, look.fonts
    layout = Layout(t.width, t.height, t.margin)
    left, top, right, bottom = layout.content
    width = right - left
    texts = layout.texts

    # Header: the wordmark, small, top left.
    site = fit_line(fonts, look.site_name.upper(), font_role="label", width=width // 2, sizes=(t.header_size, 16))
    texts += site.place(left, top, role="site", colour=p.accent)
    kicker_x = left + site.width + round(t.header_size * 0.6)
    if look.kicker:
        kicker = fit_line(fonts, "REVIEW", font_role="text", width=width // 3, sizes=(t.header_size, 16))
        placed = place_centred(
            kicker, kicker_x + kicker.width / 2, top + site.height / 2, role="kicker", colour=p.muted
        )
        texts += placed

    # Bottom row: stars, verdict pill, certificate badge.
    d = t.badge_diameter
    row_h = max(d, t.star_size)
    row_top = bottom - row_h
    row_mid = row_top + row_h / 2
    stars_y = round(row_mid - t.star_size / 2)
    layout.stars = StarRow(left, stars_y, t.star_size, t.star_gap, review.rating)
    layout.badge = Badge(right - d, round(row_mid - d / 2), d, review.certificate)
    _, badge_ink = look.certificate_colour(review.certificate)
    cert = fit_line(
        fonts, review.certificate or "?", font_role="label", width=int(d * 0.7), sizes=(int(d * 0.44), int(d * 0.2))
    )
    texts += place_centred(cert, right - d / 2, row_mid, role="badge", colour=badge_ink)

    pill_left = left + StarRow.width(t.star_size, t.star_gap) + t.gap + 6
    pill_room = right - d - t.gap - pill_left
    pad_x, pad_y = 24, 14
    word = fit_line(fonts, verdict_line(review), font_role="label", width=pill_room - 2 * pad_x, sizes=t.verdict_sizes)
    pill_w = min(pill_room, word.width + 2 * pad_x)
    pill_h = min(row_h, word.height + 2 * pad_y)
    pill = (pill_left, round(row_mid - pill_h / 2), pill_left + pill_w, round(row_mid - pill_h / 2) + pill_h)
    layout.rects.append(("pill", pill, p.accent, pill_h // 2))
    texts += place_centred(word, (pill[0] + pill[2]) / 2, row_mid, role="verdict", colour=p.verdict_ink)

    # The title takes everything between: as large as fits in three lines.
    title_top = top + site.height + t.gap
    title_room = row_top - t.gap - title_top
    title = fit(
        fonts, review.title, font_role="title", width=width, height=title_room,
        sizes=t.title_sizes, leading=t.title_leading, max_lines=t.title_max_lines,
    )  # fmt: skip
    layout.title_complete = title.complete
    y = title_top + max(0, round((title_room - title.height) / 2))
    texts += title.place(left, y, role="title", colour=p.ink, right=right if is_rtl(title.lines[0]) else None)
    return layout


def thumbnail_background(look: Look = LOOK) -> Image.Image:
    t, p = look.thumbnail, look.palette
    return backdrop(
        t.width,
        t.height,
        top=p.background_top,
        bottom=p.background_bottom,
        accent=p.accent,
        bar=t.accent_bar,
        edge="left",
    )


def draw_thumbnail(layout: Layout, look: Look = LOOK) -> Image.Image:
    return draw_layout(layout, thumbnail_background(look), look)


def youtube_thumbnail(review: Review, look: Look = LOOK, *, layout: Layout | None = None) -> bytes:
    """``youtube/thumbnail.jpg``: 1280×720 sRGB JPEG, under 2 MB."""
    layout = layout or thumbnail_layout(review, look)
    return encode(draw_thumbnail(layout, look), look.jpeg, max_bytes=look.thumbnail.max_bytes)
