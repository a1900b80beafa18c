"""The Instagram teaser: caption, hashtags, alt text and the post's JSON, within
Instagram's limits, with the card from ``card.py``. Pure.

``instagram_files`` puts the part's files together, the JSON marker last.
"""

from __future__ import annotations

import re
from typing import Any

from services.social.canvas import Layout
from services.social.card import card_layout, instagram_card
from services.social.text import (
    first_sentence,
    hashtag,
    pull_quote,
    spoken_stars,
    verdict,
)
from services.social.wording import credits, facts, headline, image_checks, json_bytes, one_line, platform_len, shorten
from shared.keys import published_key
from shared.models import Review

INSTAGRAM_CAPTION_MAX = 2200
INSTAGRAM_HASHTAGS_MAX = 30
INSTAGRAM_MENTIONS_MAX = 20
INSTAGRAM_PREVIEW = 125  # characters shown before "more"
INSTAGRAM_ALT_TEXT_MAX = 1000  # kept well short; screen readers read it in full
INSTAGRAM_CARD_SIZE = (1080, 1350)
INSTAGRAM_IMAGE_MAX_BYTES = 8 * 1024 * 1024
HASHTAG_RE = re.compile(r"(?<!\w)#\w+")
MENTION_RE = re.compile(r"(?<!\w)@[\w.]+")
GENERIC_HASHTAGS = ["#FilmReview", "#MovieReview", "#Film", "#Cinema", "#Movies"]


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
        f"Review by {one_line(review.author)}. Read the full review: link in bio.",
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
    title = one_line(review.title)
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
        f"Review card for {one_line(review.title)}{year}: {spoken_stars(review.rating)}, certificate {review.certificate}."
    ]
    if quote:
        words.append(f"Quote: “{quote}”")
    words.append(f"Review by {one_line(review.author)}.")
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
        "instagram/post.json": json_bytes(post),
        "instagram.json": json_bytes(marker),
    }
