"""YouTube: teaser.json and youtube.json within YouTube's limits, and the narration."""

from __future__ import annotations

import json

import pytest
from social_corpus import ARTICLE_URL, CORPUS, THUMBNAIL_URL, youtube_for

from services.social.samples import review
from services.social.youtube import bbfc_rating, narration, youtube_tags, youtube_teaser


def teaser_of(name: str) -> dict:
    return json.loads(youtube_for(name)["youtube/teaser.json"])


def tags_length(tags: list[str]) -> int:
    """YouTube's count, written independently: join with commas, quoting any tag with a space."""
    return len(",".join(f'"{t}"' if " " in t else t for t in tags))


def test_title_within_100_characters_without_angle_brackets(name: str) -> None:
    title = teaser_of(name)["title"]
    assert 0 < len(title) <= 100
    assert len(title.encode("utf-16-le")) // 2 <= 100
    assert "<" not in title and ">" not in title


def test_title_names_the_film_and_the_verdict() -> None:
    assert teaser_of("harbour-lights-2026")["title"] == "Harbour Lights (2026) review — ★★★★☆ 4/5, excellent"
    long = teaser_of("long-title")["title"]
    assert "…" in long and long.endswith("5/5, a masterpiece")


def test_description_within_5000_bytes_without_angle_brackets(name: str) -> None:
    description = teaser_of(name)["description"]
    assert len(description.encode("utf-8")) <= 5000
    assert "<" not in description and ">" not in description


def test_description_carries_link_and_byline(name: str) -> None:
    r = CORPUS[name]
    description = teaser_of(name)["description"]
    assert ARTICLE_URL.format(slug=r.slug) in description
    author = " ".join(r.author.split()).replace("<", "‹").replace(">", "›")
    assert f"Review by {author}." in description


def test_description_of_a_long_review_is_cut_to_fit() -> None:
    r = CORPUS["body-20000-words"]
    description = teaser_of("body-20000-words")["description"]
    assert len(description.encode()) <= 5000
    assert r.paragraphs[0] in description  # the opening, whole
    assert description.rstrip().endswith("1h 44m")  # the credits at the end survive
    # One enormous paragraph: cut at a word, with an ellipsis, inside the limit.
    one = review(paragraphs=[" ".join(r.paragraphs)])
    text = youtube_teaser(one, article_url="https://example.org/x")["description"]
    assert 4500 < len(text.encode()) <= 5000
    assert "… " not in text and "…\n\nDirected by" in text


def test_tags_within_500_characters_as_youtube_counts(name: str) -> None:
    tags = teaser_of(name)["tags"]
    assert tags
    assert tags_length(tags) <= 500
    for tag in tags:
        assert tag and tag == tag.strip()
        assert "<" not in tag and ">" not in tag and "," not in tag and '"' not in tag


def test_tags_fill_up_to_the_limit_with_many_names() -> None:
    tags = teaser_of("many-names")["tags"]
    assert 450 <= tags_length(tags) <= 500
    assert len({t.casefold() for t in tags}) == len(tags)


def test_tags_count_quotes_and_commas() -> None:
    r = review(title="Her", directors=["Spike Jonze"], cast=["Joaquin Phoenix"])
    tags = youtube_tags(r)
    assert tags[:4] == ["Her", "Her review", "Her 2026", "Spike Jonze"]
    assert tags_length(["a b", "c"]) == 7  # "a b",c


@pytest.mark.parametrize(
    "certificate, rating",
    [
        ("U", "bbfcU"),
        ("PG", "bbfcPg"),
        ("12A", "bbfc12a"),
        ("12", "bbfc12"),
        ("15", "bbfc15"),
        ("18", "bbfc18"),
        ("R18", "bbfcR18"),
    ],
)
def test_bbfc_certificate_maps_to_youtube_content_rating(certificate: str, rating: str) -> None:
    assert bbfc_rating(certificate) == rating
    teaser = youtube_teaser(review(certificate=certificate), article_url="https://example.org/x")
    assert teaser["contentRating"] == {"bbfcRating": rating}


def test_narration_is_20_to_40_seconds(name: str) -> None:
    spoken = teaser_of(name)["narration"]
    words = len(spoken["script"].split())
    assert spoken["words"] == words
    assert 50 <= words <= 100
    assert 20 <= words / 2.5 <= 40
    assert spoken["seconds"] == pytest.approx(words / 2.5, abs=0.1)


def test_narration_has_hook_premise_verdict_and_call_to_action() -> None:
    r = CORPUS["harbour-lights-2026"]
    spoken = narration(r)
    parts = spoken["parts"]
    assert list(parts) == ["hook", "premise", "verdict", "call_to_action"]
    assert parts["hook"].startswith("Harbour Lights")
    assert parts["premise"].startswith("Harbour Lights follows a lighthouse keeper's daughter")
    assert parts["verdict"] == "Priya Ramanathan gives it four stars out of five: excellent."
    assert "full review" in parts["call_to_action"]
    assert spoken["script"] == " ".join(parts.values())
    # Made from the review: its sentences appear word for word.
    assert any(s in spoken["script"] for s in r.paragraphs[0].split(". "))


def test_narration_of_extremes_stays_in_range() -> None:
    for r in [
        review(title="M", paragraphs=["Wow."], author="X"),
        review(title=" ".join(["Word"] * 40), author=" ".join(["Name"] * 20)),
        review(
            paragraphs=["A fine film. " * 3 + "Brilliant, superb and moving from the first frame to the very last one."]
        ),
    ]:
        words = narration(r)["words"]
        assert 50 <= words <= 100, (r.title[:20], words)


def test_teaser_json_has_the_thumbnail_and_checks(name: str) -> None:
    r = CORPUS[name]
    files = youtube_for(name)
    teaser = json.loads(files["youtube/teaser.json"])
    assert teaser["thumbnail"]["key"] == f"reviews/{r.slug}/youtube/thumbnail.jpg"
    assert teaser["thumbnail"]["url"] == THUMBNAIL_URL.format(slug=r.slug)
    assert teaser["thumbnail"]["bytes"] == len(files["youtube/thumbnail.jpg"])
    assert teaser["checks"] and all(teaser["checks"].values()), teaser["checks"]
    assert teaser["ready"] is True


def test_youtube_json_keeps_its_keys(name: str) -> None:
    marker = json.loads(youtube_for(name)["youtube.json"])
    teaser = teaser_of(name)
    for key in ("platform", "title", "description", "tags", "article_url"):
        assert marker[key] == teaser[key]
    assert marker["platform"] == "youtube"


def test_youtube_files_end_with_the_marker() -> None:
    assert list(youtube_for("harbour-lights-2026")) == ["youtube/thumbnail.jpg", "youtube/teaser.json", "youtube.json"]
