"""Instagram: caption.txt, post.json and instagram.json within Instagram's limits."""

from __future__ import annotations

import json
import re

from social_corpus import CARD_URL, CORPUS, instagram_for

from services.social.instagram import instagram_caption, instagram_post
from services.social.samples import review
from services.social.text import hashtag, verdict

# Independent of the module's own patterns: a hashtag is # then word characters, not
# glued to a preceding word character; a mention likewise with @.
HASHTAG = re.compile(r"(?:^|(?<=[^\w]))#(\w+)")
MENTION = re.compile(r"(?:^|(?<=[^\w]))@([\w.]+)")


def caption_of(name: str) -> str:
    return instagram_for(name)["instagram/caption.txt"].decode("utf-8")


def utf16_units(text: str) -> int:
    return sum(2 if ord(c) > 0xFFFF else 1 for c in text)


def test_caption_within_2200_characters(name: str) -> None:
    caption = caption_of(name)
    assert 0 < len(caption) <= 2200
    assert utf16_units(caption) <= 2200  # emoji count twice in the apps


def test_caption_hashtags_and_mentions_within_limits(name: str) -> None:
    caption = caption_of(name)
    assert len(HASHTAG.findall(caption)) <= 30
    assert len(MENTION.findall(caption)) <= 20


def test_caption_preview_carries_title_and_verdict(name: str) -> None:
    r = CORPUS[name]
    preview = caption_of(name)[:125]
    assert verdict(r.rating) in preview.lower()
    title = " ".join(r.title.split())
    if len(MENTION.findall(title)) > 5:  # a title that is mostly @handles loses the @s
        title = re.sub(r"(?<!\w)[#@](?=\w)", "", title)
        assert len(MENTION.findall(preview)) == 0
    if len(title) <= 80:
        assert title in preview
    else:  # shortened at a word, with an ellipsis, but most of it there
        shown = preview.split(" — ")[0].split(" (")[0]
        assert shown.endswith("…")
        assert title.startswith(shown[:-1].rstrip())
        assert len(shown) >= 60


def test_caption_hashtags_come_from_title_director_and_cast() -> None:
    caption = caption_of("accented")
    tags = caption.rsplit("\n\n", 1)[-1].split(" ")
    for expected in ["#PortraitDeLaJeuneFilleEnÉté", "#CélineSciammaDupré", "#NoémieMerlantÅberg", "#AdèleHænel"]:
        assert expected in tags
    r = review(title="Her", directors=["Spike Jonze"], cast=["Joaquin Phoenix", "Scarlett Johansson"])
    tags = instagram_caption(r).rsplit("\n\n", 1)[-1].split(" ")
    assert tags[:4] == ["#Her", "#SpikeJonze", "#JoaquinPhoenix", "#ScarlettJohansson"]


def test_caption_hashtags_are_unique_and_valid(name: str) -> None:
    post = json.loads(instagram_for(name)["instagram/post.json"])
    tags = post["hashtags"]
    assert tags, "no hashtags"
    assert len({t.casefold() for t in tags}) == len(tags)
    for tag in tags:
        assert re.fullmatch(r"#\w+", tag) and "_" not in tag, tag
        assert any(c.isalpha() for c in tag), tag
    assert caption_of(name).endswith(" ".join(tags))


def test_duplicate_names_give_one_hashtag() -> None:
    r = review(title="Jonze", directors=["Spike Jonze", "spike jonze"], cast=["Spike Jonze", "JONZE"])
    tags = instagram_caption(r).rsplit("\n\n", 1)[-1].split(" ")
    assert len([t for t in tags if t.casefold() in ("#jonze", "#spikejonze")]) == 2


def test_writers_own_hashtags_do_not_push_the_caption_over_the_limit() -> None:
    caption = caption_of("tags-in-text")
    assert len(HASHTAG.findall(caption)) <= 30
    assert len(MENTION.findall(caption)) <= 20
    assert "#Trending" in caption[:125]  # the title keeps its own #


def test_caption_with_many_long_names_stays_within_limits() -> None:
    caption = caption_of("many-names")
    assert len(caption) <= 2200
    assert "Review by " + "A" * 99 in caption


def test_caption_has_quote_credits_and_byline() -> None:
    caption = caption_of("harbour-lights-2026")
    assert "“The script by Ågård is sharp" in caption
    assert "Directed by Noémie Castellan." in caption
    assert "Review by Priya Ramanathan." in caption
    assert "link in bio" in caption


def test_post_json_describes_the_image_and_its_checks(name: str) -> None:
    r = CORPUS[name]
    files = instagram_for(name)
    post = json.loads(files["instagram/post.json"])
    assert post["caption"] == files["instagram/caption.txt"].decode()
    assert post["image"]["key"] == f"reviews/{r.slug}/instagram/card.jpg"
    assert post["image"]["url"] == CARD_URL.format(slug=r.slug)
    assert post["image"]["bytes"] == len(files["instagram/card.jpg"])
    assert (post["image"]["width"], post["image"]["height"]) == (1080, 1350)
    assert post["alt_text"].startswith("Review card for ")
    assert 0 < len(post["alt_text"]) <= 1000
    assert post["checks"] and all(post["checks"].values()), post["checks"]
    assert post["ready"] is True


def test_post_checks_catch_a_broken_caption() -> None:
    r = review(title="X")
    post = instagram_post(r, article_url="https://example.org/x")
    assert post["checks"]["caption_length"]
    from services.social.instagram import instagram_checks

    bad = instagram_checks("#a " * 31 + "x" * 2200, review=r)
    assert not bad["caption_length"] and not bad["hashtag_count"] and not bad["title_in_preview"]


def test_instagram_json_keeps_its_keys(name: str) -> None:
    marker = json.loads(instagram_for(name)["instagram.json"])
    for key in ("platform", "caption", "hashtags", "article_url", "checks"):
        assert key in marker
    assert marker["platform"] == "instagram"
    assert marker["article_url"].endswith("/index.html")


def test_instagram_files_end_with_the_marker() -> None:
    files = instagram_for("harbour-lights-2026")
    assert list(files) == ["instagram/card.jpg", "instagram/caption.txt", "instagram/post.json", "instagram.json"]


def test_hashtag_examples_from_the_brief() -> None:
    assert hashtag("Her") == "#Her" and hashtag("Spike Jonze") == "#SpikeJonze"
