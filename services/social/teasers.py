"""Instagram and YouTube teasers from a review, within each platform's limits. Pure.

The limits are the platforms' own, and every generator checks its output against
them, so a posting tool downstream never meets a platform error. Lengths are counted
in UTF-16 code units (``platform_len``), as the platforms' apps count them; that is
never less than the number of characters, so it errs on the safe side.

Images are made in ``card.py`` and ``thumbnail.py``; ``instagram_files`` and
``youtube_files`` put each part's files together, the JSON marker last.
"""

from __future__ import annotations

import io
import json
import re
from typing import Any

from PIL import Image, ImageCms

from services.social.canvas import Layout
from services.social.card import card_layout, instagram_card
from services.social.look import LOOK
from services.social.text import (
    candidate_sentences,
    first_sentence,
    hashtag,
    pull_quote,
    rating_text,
    spoken_stars,
    verdict,
)
from services.social.thumbnail import thumbnail_layout, youtube_thumbnail
from shared.keys import published_key
from shared.models import Review
from shared.site.formatting import format_runtime, stars_glyphs

INSTAGRAM_CAPTION_MAX = 2200
INSTAGRAM_HASHTAGS_MAX = 30
INSTAGRAM_MENTIONS_MAX = 20
INSTAGRAM_PREVIEW = 125  # characters shown before "more"
INSTAGRAM_ALT_TEXT_MAX = 1000  # kept well short; screen readers read it in full
INSTAGRAM_CARD_SIZE = (1080, 1350)
INSTAGRAM_IMAGE_MAX_BYTES = 8 * 1024 * 1024
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

HASHTAG_RE = re.compile(r"(?<!\w)#\w+")
MENTION_RE = re.compile(r"(?<!\w)@[\w.]+")
GENERIC_HASHTAGS = ["#FilmReview", "#MovieReview", "#Film", "#Cinema", "#Movies"]
GENERIC_TAGS = ["film review", "movie review", "new films", "cinema"]


# --- lengths and cutting -----------------------------------------------------------------


def platform_len(text: str) -> int:
    """Length as the platforms count it: UTF-16 code units (an emoji counts two)."""
    return len(text.encode("utf-16-le")) // 2


def shorten(text: str, limit: int) -> str:
    """Cut at a word boundary with an ellipsis; text within the limit is unchanged."""
    if platform_len(text) <= limit:
        return text
    if limit <= 1:
        return "…"[:limit]
    cut = text
    while platform_len(cut) > limit - 1:
        cut = cut[: max(0, len(cut) - max(1, (platform_len(cut) - limit + 1) // 2))]
    if " " in cut[len(cut) // 2 :]:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:—–-") + "…"


def truncate_utf8(text: str, limit: int) -> str:
    """At most ``limit`` UTF-8 bytes, cut at a word (if one ends in the last half) with an ellipsis."""
    data = text.encode()
    if len(data) <= limit:
        return text
    cut = data[: max(0, limit - len("…".encode()))].decode(errors="ignore")
    if " " in cut[len(cut) // 2 :]:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:—–-") + "…"


def strip_angle_brackets(text: str) -> str:
    # YouTube refuses < and > in titles, descriptions and tags.
    return text.replace("<", "‹").replace(">", "›")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _names(names: list[str], limit: int) -> str:
    """``A, B and C``, shortened to ``limit`` characters if a list runs long."""
    names = [_one_line(n) for n in names if n.strip()]
    text = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1] if names else ""
    return shorten(text, limit)


# --- shared pieces -----------------------------------------------------------------------


def headline(review: Review, *, limit: int) -> str:
    """``Her (2013) — ★★★★½ 4.5/5. Outstanding.``, title shortened so that all of it fits."""
    year = f" ({review.year})" if review.year else ""
    rest = (
        f"{year} — {stars_glyphs(review.rating)} {rating_text(review.rating)}. {verdict(review.rating).capitalize()}."
    )
    return shorten(_one_line(review.title), limit - platform_len(rest)) + rest


def credits(review: Review, *, cast: int = 5, limit: int = 400) -> str:
    line = f"Directed by {_names(review.directors, limit // 2)}."
    if review.cast:
        more = " and others" if len(review.cast) > cast else ""
        line += f" Starring {_names(review.cast[:cast], limit // 2)}{more}."
    return line


def facts(review: Review) -> str:
    return f"Certificate {review.certificate} · {format_runtime(review.runtime_minutes)}"


def hashtags_for(review: Review, *, limit: int = INSTAGRAM_HASHTAGS_MAX) -> list[str]:
    tags: list[str] = []
    seen: set[str] = set()
    for source in [review.title, *review.directors, *review.cast]:
        tag = hashtag(source)
        if tag and tag.casefold() not in seen:
            seen.add(tag.casefold())
            tags.append(tag)
    for tag in GENERIC_HASHTAGS:
        if tag.casefold() not in seen:
            seen.add(tag.casefold())
            tags.append(tag)
    return tags[:limit]


def image_checks(data: bytes, *, size: tuple[int, int], max_bytes: int) -> dict[str, bool]:
    """What the platform checks of an image, read back from the encoded bytes."""
    with Image.open(io.BytesIO(data)) as image:
        icc = image.info.get("icc_profile")
        srgb = True
        if icc:
            profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            srgb = "srgb" in ImageCms.getProfileDescription(profile).lower()
        return {
            "image_format": image.format == "JPEG",
            "image_mode": image.mode == "RGB",
            "image_size": image.size == size,
            "image_bytes": len(data) <= max_bytes,
            "image_srgb": srgb,
        }


# --- Instagram ---------------------------------------------------------------------------


def _quiet_sigils(text: str) -> str:
    """Writer's text that would carry hashtags or mentions of its own loses the # and @."""
    return re.sub(r"(?<!\w)[#@](?=\w)", "", text)


def instagram_caption(review: Review) -> str:
    """The caption, ready to paste: the title and verdict first (they show before "more"),
    the pull quote, the premise, credits, the byline and a pointer to the link, hashtags."""
    head = headline(review, limit=INSTAGRAM_PREVIEW)
    quote = pull_quote(review)
    premise = first_sentence(review, skip=quote)
    body = []
    if quote:
        body.append(f"“{quote}”")
    if premise:
        body.append(shorten(premise, 300))
    tail = [
        f"{credits(review)}\n{facts(review)}",
        f"Review by {_one_line(review.author)}. Read the full review: link in bio.",
    ]
    parts = [head, *body, *tail]
    text = "\n\n".join(parts)
    # The writer's text is theirs to word, but not to fill with tags: if it alone would
    # pass half a limit, its own # and @ go (the headline keeps the title as written).
    if (
        len(HASHTAG_RE.findall(text)) > INSTAGRAM_HASHTAGS_MAX // 2
        or len(MENTION_RE.findall(text)) > INSTAGRAM_MENTIONS_MAX // 2
    ):
        busy_head = len(HASHTAG_RE.findall(head)) > 5 or len(MENTION_RE.findall(head)) > 5
        parts = [_quiet_sigils(head) if busy_head else head, *map(_quiet_sigils, body + tail)]
        text = "\n\n".join(parts)
    text = shorten(text, INSTAGRAM_CAPTION_MAX - 2 - 40)  # room for at least one tag
    room = INSTAGRAM_HASHTAGS_MAX - len(HASHTAG_RE.findall(text))
    tags: list[str] = []
    for tag in hashtags_for(review, limit=max(room, 0)):
        line = " ".join([*tags, tag])
        if platform_len(text) + 2 + platform_len(line) <= INSTAGRAM_CAPTION_MAX:
            tags.append(tag)
    return f"{text}\n\n{' '.join(tags)}" if tags else text


def caption_hashtags(caption: str) -> list[str]:
    """The hashtags of a caption's last paragraph (the ones this module adds)."""
    last = caption.rsplit("\n\n", 1)[-1]
    return [w for w in last.split(" ") if HASHTAG_RE.fullmatch(w)]


def instagram_checks(caption: str, *, review: Review) -> dict[str, bool]:
    preview = caption[:INSTAGRAM_PREVIEW]
    title = _one_line(review.title)
    return {
        "caption_length": platform_len(caption) <= INSTAGRAM_CAPTION_MAX,
        "hashtag_count": len(HASHTAG_RE.findall(caption)) <= INSTAGRAM_HASHTAGS_MAX,
        "mention_count": len(MENTION_RE.findall(caption)) <= INSTAGRAM_MENTIONS_MAX,
        # (a title busy with @ and # may have lost them: see instagram_caption)
        "title_in_preview": title[:40] in preview or _quiet_sigils(title)[:40] in preview,
        "verdict_in_preview": verdict(review.rating) in preview.lower(),
    }


def alt_text(review: Review, *, quote: str | None = None) -> str:
    """What the card shows, in words, for people who cannot see it."""
    year = f" ({review.year})" if review.year else ""
    words = [
        f"Review card for {_one_line(review.title)}{year}: {spoken_stars(review.rating)}, certificate {review.certificate}."
    ]
    if quote:
        words.append(f"Quote: “{quote}”")
    words.append(f"Review by {_one_line(review.author)}.")
    return shorten(" ".join(words), INSTAGRAM_ALT_TEXT_MAX)


def instagram_post(
    review: Review,
    *,
    article_url: str,
    card: bytes | None = None,
    card_url: str | None = None,
    layout: Layout | None = None,
) -> dict[str, Any]:
    """``instagram/post.json``: everything a person or a tool needs to post the card.
    Without ``card`` (the JPEG), the caption and its checks only."""
    caption = instagram_caption(review)
    checks = instagram_checks(caption, review=review)
    post: dict[str, Any] = {
        "platform": "instagram",
        "caption": caption,
        "hashtags": caption_hashtags(caption),
        "article_url": article_url,
    }
    if card is not None:
        layout = layout or card_layout(review)
        checks |= image_checks(card, size=INSTAGRAM_CARD_SIZE, max_bytes=INSTAGRAM_IMAGE_MAX_BYTES)
        checks["card_text_fits"] = layout.fits()
        post["image"] = {
            "key": published_key(review.slug, "instagram/card.jpg"),
            "url": card_url,
            "content_type": "image/jpeg",
            "width": INSTAGRAM_CARD_SIZE[0],
            "height": INSTAGRAM_CARD_SIZE[1],
            "bytes": len(card),
        }
        post["alt_text"] = alt_text(review, quote=layout.quote)
        post["caption_key"] = published_key(review.slug, "instagram/caption.txt")
    post["checks"] = checks
    post["ready"] = all(checks.values())
    return post


def instagram_files(review: Review, *, article_url: str, card_url: str) -> dict[str, bytes]:
    """Every file of the Instagram part, by name under the output prefix; the marker
    ``instagram.json`` (what the social task checks to skip done work) comes last."""
    layout = card_layout(review)
    card = instagram_card(review, layout=layout)
    post = instagram_post(review, article_url=article_url, card=card, card_url=card_url, layout=layout)
    marker = {
        "platform": "instagram",
        "caption": post["caption"],
        "hashtags": post["hashtags"],
        "article_url": article_url,
        "checks": post["checks"],
        "image_url": card_url,
        "alt_text": post["alt_text"],
    }
    return {
        "instagram/card.jpg": card,
        "instagram/caption.txt": post["caption"].encode(),
        "instagram/post.json": _json(post),
        "instagram.json": _json(marker),
    }


# --- YouTube -----------------------------------------------------------------------------


def youtube_title(review: Review) -> str:
    """``Her (2013) review — ★★★★½ 4.5/5, outstanding``, the title shortened to fit."""
    year = f" ({review.year})" if review.year else ""
    rest = f"{year} review — {stars_glyphs(review.rating)} {rating_text(review.rating)}, {verdict(review.rating)}"
    title = shorten(_one_line(review.title), YOUTUBE_TITLE_MAX - platform_len(rest))
    return strip_angle_brackets(title + rest)


def youtube_tags_length(tags: list[str]) -> int:
    """YouTube counts the commas between tags, and quotes around a tag with a space."""
    return sum(len(t) + (2 if " " in t else 0) for t in tags) + max(len(tags) - 1, 0)


def _tag(text: str) -> str:
    tag = _one_line(strip_angle_brackets(text.replace(",", " ").replace('"', "")))
    if len(tag) > YOUTUBE_TAG_MAX:
        head = tag[: YOUTUBE_TAG_MAX + 1]
        tag = head.rsplit(" ", 1)[0] if " " in head else tag[:YOUTUBE_TAG_MAX]
    return tag.strip()


def youtube_tags(review: Review) -> list[str]:
    title = _one_line(review.title)
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
    author = _one_line(review.author)
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
        piece = truncate_utf8(_one_line(paragraph), room - 2)
        middle.append(piece)
        used += len(piece.encode()) + 2
    text = strip_angle_brackets("\n\n".join([head, *middle, foot]))
    return truncate_utf8(text, YOUTUBE_DESCRIPTION_MAX_BYTES)


def narration(review: Review, *, site: str = LOOK.site_name) -> dict[str, Any]:
    """A 20–40 second voice-over (50–100 words at 2.5 words a second): a hook, the premise,
    the verdict and a call to read the full review, made from the review's own sentences."""
    low, high = NARRATION_WORDS
    title = shorten(_one_line(review.title), 90)
    if len(title.split()) > 15:
        title = " ".join(title.split()[:15]) + "…"
    author = " ".join(_one_line(review.author).split()[:8])
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
        directors = _names(review.directors[:2], 60)
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
        "youtube/teaser.json": _json(teaser),
        "youtube.json": _json(marker),
    }


def _json(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False, indent=2).encode()
