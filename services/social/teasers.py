"""Instagram and YouTube teasers from a review, within each platform's limits. Pure.

The limits are the platforms' own, and every generator checks its output against
them, so a posting tool downstream never meets a platform error.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from services.render.article import stars_glyphs
from shared.models import Review

INSTAGRAM_CAPTION_MAX = 2200
INSTAGRAM_HASHTAGS_MAX = 30
INSTAGRAM_MENTIONS_MAX = 20
INSTAGRAM_PREVIEW = 125  # characters shown before "more"
YOUTUBE_TITLE_MAX = 100
YOUTUBE_DESCRIPTION_MAX_BYTES = 5000
YOUTUBE_TAGS_MAX = 500

_VERDICTS = [(5, "a masterpiece"), (4, "excellent"), (3, "worth seeing"), (2, "mixed"), (1, "poor"), (0, "one to avoid")]


def verdict(rating: float) -> str:
    return next(word for floor, word in _VERDICTS if rating >= floor)


def shorten(text: str, limit: int) -> str:
    """Cut at a word boundary with an ellipsis; text within the limit is unchanged."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut[limit // 2 :]:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:—-") + "…"


def truncate_utf8(text: str, limit: int) -> str:
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[: limit - len("…".encode())].decode(errors="ignore").rstrip() + "…"


def strip_angle_brackets(text: str) -> str:
    # YouTube refuses < and > in titles, descriptions and tags.
    return text.replace("<", "‹").replace(">", "›")


def hashtag(text: str) -> str | None:
    """``Spike Jonze`` → ``#SpikeJonze``; letters, digits and underscores only."""
    words = re.findall(r"\w+", unicodedata.normalize("NFC", text))
    tag = "".join(w[:1].upper() + w[1:] for w in words)
    if not tag or tag.isdigit():
        return None
    return "#" + tag


def hashtags_for(review: Review) -> list[str]:
    tags: list[str] = []
    seen: set[str] = set()
    for source in [review.title, *review.directors, *review.cast, "Film Review", "Movie Review"]:
        tag = hashtag(source)
        if tag and tag.casefold() not in seen and len(tags) < INSTAGRAM_HASHTAGS_MAX:
            seen.add(tag.casefold())
            tags.append(tag)
    return tags


def headline(review: Review, *, limit: int) -> str:
    """Title, stars and verdict, with the title shortened so that all of it fits."""
    year = f" ({review.year})" if review.year else ""
    rest = f"{year} — {stars_glyphs(review.rating)} {review.rating:g}/5, {verdict(review.rating)}"
    return shorten(review.title, limit - len(rest)) + rest


def instagram_post(review: Review, *, article_url: str) -> dict[str, Any]:
    top = headline(review, limit=INSTAGRAM_PREVIEW)
    credits = f"Directed by {', '.join(review.directors)}."
    if review.cast:
        credits += f" Starring {', '.join(review.cast[:5])}."
    tags = hashtags_for(review)
    tail = f"{credits}\nReview by {review.author}. Read it in full: link in bio.\n\n{' '.join(tags)}"
    room = INSTAGRAM_CAPTION_MAX - len(top) - len(tail) - 4
    excerpt = shorten(review.paragraphs[0], min(room, 600)) if review.paragraphs and room > 20 else ""
    caption = "\n\n".join(part for part in (top, excerpt, tail) if part)
    return {
        "platform": "instagram",
        "caption": caption,
        "hashtags": tags,
        "article_url": article_url,
        "checks": instagram_checks(caption, title=review.title),
    }


def instagram_checks(caption: str, *, title: str) -> dict[str, bool]:
    preview = caption[:INSTAGRAM_PREVIEW]
    return {
        "caption_length": len(caption) <= INSTAGRAM_CAPTION_MAX,
        "hashtag_count": len(re.findall(r"(?<!\w)#\w+", caption)) <= INSTAGRAM_HASHTAGS_MAX,
        "mention_count": len(re.findall(r"(?<!\w)@\w+", caption)) <= INSTAGRAM_MENTIONS_MAX,
        "title_in_preview": title[:20] in preview,
    }


def youtube_tags_length(tags: list[str]) -> int:
    """YouTube counts the commas between tags, and quotes around a tag with a space."""
    return sum(len(t) + (2 if " " in t else 0) for t in tags) + max(len(tags) - 1, 0)


def youtube_tags(review: Review) -> list[str]:
    tags: list[str] = []
    seen: set[str] = set()
    for source in [review.title, *review.directors, *review.cast, "film review", "movie review", f"{review.title} review"]:
        tag = strip_angle_brackets(source.replace(",", " ")).strip()[:100]
        if not tag or tag.casefold() in seen:
            continue
        if youtube_tags_length([*tags, tag]) <= YOUTUBE_TAGS_MAX:
            seen.add(tag.casefold())
            tags.append(tag)
    return tags


def youtube_teaser(review: Review, *, article_url: str) -> dict[str, Any]:
    title = strip_angle_brackets(headline(review, limit=YOUTUBE_TITLE_MAX - len(" review")))
    title = title.replace(" (", " review (", 1) if review.year else title.replace(" — ", " review — ", 1)
    credits = f"Directed by {', '.join(review.directors)}."
    if review.cast:
        credits += f" Starring {', '.join(review.cast)}."
    footer = f"Read the full review: {article_url}\nReview by {review.author}.\n{credits}"
    excerpt_budget = YOUTUBE_DESCRIPTION_MAX_BYTES - len(footer.encode()) - 8
    excerpt = truncate_utf8("\n\n".join(review.paragraphs[:2]), max(excerpt_budget, 0))
    description = strip_angle_brackets(f"{excerpt}\n\n{footer}" if excerpt else footer)
    description = truncate_utf8(description, YOUTUBE_DESCRIPTION_MAX_BYTES)
    tags = youtube_tags(review)
    return {
        "platform": "youtube",
        "title": shorten(title, YOUTUBE_TITLE_MAX),
        "description": description,
        "tags": tags,
        "article_url": article_url,
    }
