"""``instagram/card.jpg``: the review as a 4:5 card. Pure: a review in, JPEG bytes out.

``card_layout`` decides where everything goes and returns it as data (a ``Layout``
whose text boxes are the ink that will be drawn); ``draw_card`` draws exactly that;
``instagram_card`` encodes it. From top to bottom: the site and the certificate, the
title, the film's facts, the stars, the pull quote, the byline.
"""

from __future__ import annotations

from PIL import Image

from services.social.canvas import Layout, draw_layout, needs_wide_font
from services.social.jpeg import encode
from services.social.look import LOOK, Look
from services.social.shapes import Badge, StarRow, backdrop
from services.social.text import pull_quote, rating_text, verdict
from services.social.typeset import clean_line, fit, fit_line, glyph_block, is_rtl, place_centred
from shared.models import Review
from shared.site.formatting import format_runtime

TITLE_BUDGET_STEP = 40


def _meta(review: Review) -> str:
    parts = [str(review.year)] if review.year else []
    parts.append(format_runtime(review.runtime_minutes))
    directors = [clean_line(d) for d in review.directors if d.strip()]
    if directors:
        parts.append("Directed by " + ", ".join(directors))
    return " · ".join(parts)


def card_layout(review: Review, look: Look = LOOK, *, quote: str | bool | None = True) -> Layout:
    """Where everything on the card goes. ``quote`` overrides the pull quote (a string),
    or leaves it to ``pull_quote`` (True)."""
    c, p, fonts = look.card, look.palette, look.fonts
    layout = Layout(c.width, c.height, c.margin)
    left, top, right, bottom = layout.content
    width = right - left
    texts = layout.texts

    # Header: wordmark and kicker on the left, the certificate badge on the right.
    d = c.badge_diameter
    layout.badge = Badge(right - d, top, d, review.certificate)
    _, badge_ink = look.certificate_colour(review.certificate)
    cert = fit_line(
        fonts, review.certificate or "?", font_role="label", width=int(d * 0.7), sizes=(int(d * 0.44), int(d * 0.2))
    )
    texts += place_centred(cert, right - d / 2, top + d / 2, role="badge", colour=badge_ink)
    header_width = width - d - c.gap
    site = fit_line(fonts, look.site_name.upper(), font_role="label", width=header_width, sizes=(c.header_size, 16))
    header_y = round(top + d / 2 - site.height / 2)
    texts += site.place(left, header_y, role="site", colour=p.accent)
    kicker_x = left + site.width + round(c.header_size * 0.6)
    if look.kicker and header_width - (kicker_x - left) > c.header_size * 3:
        kicker = fit_line(
            fonts,
            look.kicker.upper(),
            font_role="text",
            width=header_width - (kicker_x - left),
            sizes=(c.header_size, 16),
        )
        texts += place_centred(kicker, kicker_x + kicker.width / 2, top + d / 2, role="kicker", colour=p.muted)
        # centre on the wordmark's ink, not the badge, when the two differ in size
        texts[-1] = _align_left(texts[-1], kicker_x)

    # Footer, from the bottom edge up: "full review" line, byline, a short rule.
    footer = fit_line(fonts, look.card_footer, font_role="text", width=width, sizes=(c.footer_size, 16))
    footer_y = bottom - footer.height
    texts += footer.place(left, footer_y, role="footer", colour=p.muted)
    byline = fit_line(
        fonts, f"Review by {clean_line(review.author)}", font_role="label", width=width, sizes=(c.byline_size, 22)
    )
    byline_y = footer_y - 16 - byline.height
    texts += byline.place(left, byline_y, role="byline", colour=p.ink)
    rule_bottom = byline_y - 24
    layout.rects.append(("rule", (left, rule_bottom - 5, left + 72, rule_bottom), p.accent, 2))
    floor = rule_bottom - 5 - c.gap

    # Title, facts, stars and quote share what is left; the title gives way (smaller,
    # within a shorter budget) until the quote fits whole.
    chosen = pull_quote(review) if quote is True else (quote or None)
    layout.quote = chosen
    quote_text = clean_line(chosen) if chosen else f"{verdict(review.rating).capitalize()}."
    quote_role = "quote_wide" if needs_wide_font(quote_text) else "quote"
    title_top = top + d + c.gap
    budget = c.title_max_height
    while True:
        title = fit(
            fonts,
            review.title,
            font_role="title",
            width=width,
            height=budget,
            sizes=c.title_sizes,
            leading=c.title_leading,
        )
        y = title_top + title.height + 30
        meta = fit_line(fonts, _meta(review), font_role="text", width=width, sizes=(c.meta_size, 22))
        meta_y = y
        y += meta.height + c.gap
        stars_y = y
        y += c.star_size + round(c.gap * 1.4)
        room = floor - y
        mark = glyph_block(fonts, "“", font_role=quote_role, size=c.quote_mark_size)
        # The big mark needs room above the quote; without it, the quote wears its own marks.
        with_mark = chosen is not None and room - mark.height - 18 >= c.quote_sizes[0] * 4
        shown = quote_text if (with_mark or chosen is None) else f"“{quote_text}”"
        quote_room = room - (mark.height + 18 if with_mark else 0)
        body = fit(
            fonts,
            shown,
            font_role=quote_role,
            width=width,
            height=max(quote_room, 1),
            sizes=c.quote_sizes,
            leading=c.quote_leading,
        )
        whole = body.complete and body.height <= quote_room
        comfortable = body.size >= c.quote_comfortable_size or title.size <= c.title_comfortable_size
        if (whole and comfortable) or budget <= c.title_sizes[1] * 2:
            break
        budget -= TITLE_BUDGET_STEP

    layout.title_complete = title.complete
    texts += title.place(left, title_top, role="title", colour=p.ink, right=right if is_rtl(title.lines[0]) else None)
    texts += meta.place(left, meta_y, role="meta", colour=p.muted)
    layout.stars = StarRow(left, stars_y, c.star_size, c.star_gap, review.rating)
    number = fit_line(
        fonts, rating_text(review.rating), font_role="label", width=width // 3, sizes=(round(c.star_size * 0.5), 20)
    )
    number_x = left + StarRow.width(c.star_size, c.star_gap) + c.star_gap * 2
    texts += place_centred(
        number, number_x + number.width / 2, stars_y + c.star_size / 2, role="rating", colour=p.muted
    )
    texts[-1] = _align_left(texts[-1], number_x)

    # The quote sits a little above the middle of its room.
    group = body.height + (mark.height + 18 if with_mark else 0)
    y = stars_y + c.star_size + round(c.gap * 1.4) + max(0, round((room - group) * 0.42))
    if with_mark:
        texts += mark.place(left, y, role="quote_mark", colour=p.accent)
        y += mark.height + 18
    texts += body.place(left, y, role="quote", colour=p.ink, right=right if is_rtl(body.lines[0]) else None)
    return layout


def _align_left(tb, x: int):
    """Move a text box sideways so its ink starts at ``x``."""
    from dataclasses import replace

    dx = x - tb.box[0]
    return replace(
        tb, origin=(tb.origin[0] + dx, tb.origin[1]), box=(tb.box[0] + dx, tb.box[1], tb.box[2] + dx, tb.box[3])
    )


def card_background(look: Look = LOOK) -> Image.Image:
    c, p = look.card, look.palette
    return backdrop(
        c.width,
        c.height,
        top=p.background_top,
        bottom=p.background_bottom,
        accent=p.accent,
        bar=c.accent_bar,
        edge="top",
    )


def draw_card(layout: Layout, look: Look = LOOK) -> Image.Image:
    return draw_layout(layout, card_background(look), look)


def instagram_card(review: Review, look: Look = LOOK, *, layout: Layout | None = None) -> bytes:
    """``instagram/card.jpg``: 1080×1350 sRGB JPEG, under 8 MB."""
    layout = layout or card_layout(review, look)
    return encode(draw_card(layout, look), look.jpeg, max_bytes=look.card.max_bytes)
