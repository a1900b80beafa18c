"""The YouTube teaser: title, description, tags, the narration script and the teaser's
JSON, within YouTube's limits, with the thumbnail from ``thumbnail.py``. Pure.

``youtube_files`` puts the part's files together, the JSON marker last.
"""

from __future__ import annotations

from typing import Any

from services.social.canvas import Layout
from services.social.look import LOOK
from services.social.text import (
    candidate_sentences,
    first_sentence,
    pull_quote,
    rating_text,
    spoken_stars,
    verdict,
)
from services.social.thumbnail import thumbnail_layout, youtube_thumbnail
from services.social.wording import (
    credits,
    facts,
    image_checks,
    json_bytes,
    names_list,
    one_line,
    platform_len,
    shorten,
    strip_angle_brackets,
    truncate_utf8,
)
from shared.keys import published_key
from shared.models import Review
from shared.site.formatting import stars_glyphs

YOUTUBE_TITLE_MAX = 100
YOUTUBE_DESCRIPTION_MAX_BYTES = 5000
YOUTUBE_TAGS_MAX = 500
YOUTUBE_TAG_MAX = 30  # per tag: YouTube sets no documented limit; long ones read as spam
YOUTUBE_THUMBNAIL_SIZE = (1280, 720)
YOUTUBE_THUMBNAIL_MAX_BYTES = 2 * 1024 * 1024
YOUTUBE_CATEGORY_FILM = "1"  # "Film & Animation"
NARRATION_WORDS_PER_SECOND = 2.5
NARRATION_SECONDS = (20, 40)
NARRATION_WORDS = (50, 100)  # 20–40 s at 2.5 words a second
# BBFC certificate → YouTube's contentRating.bbfcRating.
BBFC_RATINGS = {
    "U": "bbfcU",
    "PG": "bbfcPg",
    "12A": "bbfc12a",
    "12": "bbfc12",
    "15": "bbfc15",
    "18": "bbfc18",
    "R18": "bbfcR18",
}
GENERIC_TAGS = ["film review", "movie review", "new films", "cinema"]


def youtube_title(review: Review) -> str:
    """``Her (2013) review — ★★★★½ 4.5/5, outstanding``, the title shortened to fit."""
    year = f" ({review.year})" if review.year else ""
    rest = f"{year} review — {stars_glyphs(review.rating)} {rating_text(review.rating)}, {verdict(review.rating)}"
    title = shorten(one_line(review.title), YOUTUBE_TITLE_MAX - platform_len(rest))
    return strip_angle_brackets(title + rest)


def youtube_tags_length(tags: list[str]) -> int:
    """YouTube counts the commas between tags, and quotes around a tag with a space."""
    return sum(len(t) + (2 if " " in t else 0) for t in tags) + max(len(tags) - 1, 0)


def _tag(text: str) -> str:
    tag = one_line(strip_angle_brackets(text.replace(",", " ").replace('"', "")))
    if len(tag) > YOUTUBE_TAG_MAX:
        head = tag[: YOUTUBE_TAG_MAX + 1]
        tag = head.rsplit(" ", 1)[0] if " " in head else tag[:YOUTUBE_TAG_MAX]
    return tag.strip()


def youtube_tags(review: Review) -> list[str]:
    title = one_line(review.title)
    sources = [title, f"{title} review"]
    if review.year:
        sources.append(f"{title} {review.year}")
    sources += [*review.directors, *review.cast, *GENERIC_TAGS]
    tags: list[str] = []
    seen: set[str] = set()
    for source in sources:
        tag = _tag(source)
        if not tag or tag.casefold() in seen:
            continue
        if youtube_tags_length([*tags, tag]) <= YOUTUBE_TAGS_MAX:
            seen.add(tag.casefold())
            tags.append(tag)
    return tags


def youtube_description(review: Review, *, article_url: str) -> str:
    """The link and the byline come first, where YouTube shows them before "more"."""
    author = one_line(review.author)
    head = f"{youtube_title(review)}.\nRead the full review: {article_url}\nReview by {author}."
    foot = f"{credits(review, cast=8, limit=800)}\n{facts(review)}"
    quote = pull_quote(review)
    middle = [f"“{quote}” — {author}"] if quote else []
    budget = YOUTUBE_DESCRIPTION_MAX_BYTES - len(head.encode()) - len(foot.encode()) - 8 * 4
    used = sum(len(m.encode()) + 2 for m in middle)
    for paragraph in review.paragraphs[:3]:
        room = budget - used
        if room < 120:
            break
        piece = truncate_utf8(one_line(paragraph), room - 2)
        middle.append(piece)
        used += len(piece.encode()) + 2
    text = strip_angle_brackets("\n\n".join([head, *middle, foot]))
    return truncate_utf8(text, YOUTUBE_DESCRIPTION_MAX_BYTES)


def narration(review: Review, *, site: str = LOOK.site_name) -> dict[str, Any]:
    """A 20–40 second voice-over (50–100 words at 2.5 words a second): a hook, the premise,
    the verdict and a call to read the full review, made from the review's own sentences."""
    low, high = NARRATION_WORDS
    title = shorten(one_line(review.title), 90)
    if len(title.split()) > 15:
        title = " ".join(title.split()[:15]) + "…"
    author = " ".join(one_line(review.author).split()[:8])
    quote = pull_quote(review)

    verdict_part = f"{author} gives it {spoken_stars(review.rating)}: {verdict(review.rating)}."
    cta = f"Read {author}'s full review of {title} on {site}. The link is in the description."
    if quote and len(quote.split()) <= 30:
        hook = f"{title}. {quote}"
    else:
        hook = f"Is {title} worth your time? Here's our verdict."
    premise = first_sentence(review, max_words=35, skip=quote) or ""

    def count(*parts: str) -> int:
        return sum(len(p.split()) for p in parts if p)

    # Too long: drop the premise, then fall back to the plain hook.
    if count(hook, premise, verdict_part, cta) > high:
        premise = ""
    if count(hook, premise, verdict_part, cta) > high:
        hook = f"{title}: is it worth your time?"
    # Too short: more of the review, then the film's facts.
    extras: list[str] = []
    if count(hook, premise, verdict_part, cta) < low:
        used = {quote, premise}
        for _, sentence in candidate_sentences(review, limit=40):
            if sentence in used or len(sentence.split()) > 30:
                continue
            if count(hook, premise, *extras, sentence, verdict_part, cta) > high - 12:
                break
            extras.append(sentence)
            if count(hook, premise, *extras, verdict_part, cta) >= low + 10:
                break
    if count(hook, premise, *extras, verdict_part, cta) < low:
        directors = names_list(review.directors[:2], 60)
        extras.append(
            f"It is directed by {directors}, runs {_spoken_runtime(review.runtime_minutes)}, and is rated {review.certificate}."
        )
    if count(hook, premise, *extras, verdict_part, cta) < low:
        cta = f"{cta} And for more reviews like this one, subscribe to {site}."
    premise_text = " ".join(p for p in [premise, *extras] if p)
    parts = {"hook": hook, "premise": premise_text, "verdict": verdict_part, "call_to_action": cta}
    script = " ".join(p for p in parts.values() if p)
    words = len(script.split())
    return {
        "script": script,
        "parts": parts,
        "words": words,
        "words_per_second": NARRATION_WORDS_PER_SECOND,
        "seconds": round(words / NARRATION_WORDS_PER_SECOND, 1),
    }


def _spoken_runtime(minutes: int) -> str:
    hours, mins = divmod(minutes, 60)
    if not hours:
        return f"{mins} minutes"
    h = f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{h} and {mins} minutes" if mins else h


def bbfc_rating(certificate: str) -> str:
    """A BBFC certificate as YouTube's ``contentRating.bbfcRating``."""
    return BBFC_RATINGS.get(certificate.strip().upper().replace(" ", ""), "bbfcUnrated")


def youtube_checks(teaser: dict[str, Any]) -> dict[str, bool]:
    title, description, tags = teaser["title"], teaser["description"], teaser["tags"]
    low, high = NARRATION_WORDS
    return {
        "title_length": 0 < platform_len(title) <= YOUTUBE_TITLE_MAX,
        "title_no_angle_brackets": "<" not in title and ">" not in title,
        "description_bytes": len(description.encode()) <= YOUTUBE_DESCRIPTION_MAX_BYTES,
        "description_no_angle_brackets": "<" not in description and ">" not in description,
        "description_has_link": teaser["article_url"] in description,
        "tags_length": youtube_tags_length(tags) <= YOUTUBE_TAGS_MAX,
        "tags_no_angle_brackets": not any("<" in t or ">" in t or "," in t for t in tags),
        "narration_words": low <= teaser["narration"]["words"] <= high,
    }


def youtube_teaser(
    review: Review,
    *,
    article_url: str,
    thumbnail: bytes | None = None,
    thumbnail_url: str | None = None,
    layout: Layout | None = None,
) -> dict[str, Any]:
    """``youtube/teaser.json``: title, description, tags, narration, content rating.
    Without ``thumbnail`` (the JPEG), the text and its checks only."""
    teaser: dict[str, Any] = {
        "platform": "youtube",
        "title": youtube_title(review),
        "description": youtube_description(review, article_url=article_url),
        "tags": youtube_tags(review),
        "article_url": article_url,
        "category_id": YOUTUBE_CATEGORY_FILM,
        "contentRating": {"bbfcRating": bbfc_rating(review.certificate)},
        "narration": narration(review),
    }
    checks = youtube_checks(teaser)
    if thumbnail is not None:
        layout = layout or thumbnail_layout(review)
        checks |= image_checks(thumbnail, size=YOUTUBE_THUMBNAIL_SIZE, max_bytes=YOUTUBE_THUMBNAIL_MAX_BYTES)
        checks["thumbnail_text_fits"] = layout.fits()
        teaser["thumbnail"] = {
            "key": published_key(review.slug, "youtube/thumbnail.jpg"),
            "url": thumbnail_url,
            "content_type": "image/jpeg",
            "width": YOUTUBE_THUMBNAIL_SIZE[0],
            "height": YOUTUBE_THUMBNAIL_SIZE[1],
            "bytes": len(thumbnail),
        }
    teaser["checks"] = checks
    teaser["ready"] = all(checks.values())
    return teaser


def youtube_files(review: Review, *, article_url: str, thumbnail_url: str) -> dict[str, bytes]:
    """Every file of the YouTube part; the marker ``youtube.json`` comes last."""
    layout = thumbnail_layout(review)
    thumbnail = youtube_thumbnail(review, layout=layout)
    teaser = youtube_teaser(
        review, article_url=article_url, thumbnail=thumbnail, thumbnail_url=thumbnail_url, layout=layout
    )
    marker = {key: teaser[key] for key in ("platform", "title", "description", "tags", "article_url")}
    marker |= {
        "thumbnail_url": thumbnail_url,
        "contentRating": teaser["contentRating"],
        "checks": teaser["checks"],
    }
    return {
        "youtube/thumbnail.jpg": thumbnail,
        "youtube/teaser.json": json_bytes(teaser),
        "youtube.json": json_bytes(marker),
    }
