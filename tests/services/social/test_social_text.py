"""Reading a review: sentences, furniture, the pull quote, verdicts, hashtags."""

from __future__ import annotations

import re
import time

import pytest
from social_corpus import BODY_20000, CORPUS, EVALUATIVE_ENDING

from services.social.samples import review
from services.social.text import (
    QUOTE_MAX,
    QUOTE_MIN,
    first_sentence,
    hashtag,
    is_furniture,
    polarity,
    pull_quote,
    sentences,
    spoken_stars,
    stands_alone,
    verdict,
)

EVALUATIVE = re.compile(r"\b(brilliant|tedious|best|worst|superb|fails?|magnificent|gorgeous|masterpiece|dull)\b", re.I)


def test_sentences_split_at_full_stops_but_not_at_abbreviations() -> None:
    text = "Dr. Strangelove meets J. R. Hartley. It works! Does it? Mostly… yes. The end."
    assert sentences(text) == [
        "Dr. Strangelove meets J. R. Hartley.",
        "It works!",
        "Does it?",
        "Mostly… yes.",
        "The end.",
    ]


def test_sentences_keep_closing_quotes() -> None:
    assert sentences("She says “No.” Then she leaves.") == ["She says “No.”", "Then she leaves."]


@pytest.mark.parametrize(
    "text",
    [
        "Follow Us On Instagram!",
        "Subscribe To Our YouTube Channel for more reviews like this one every single week!",
        "Download the app: available on the App Store and Google Play.",
        "Share this review with your friends and family today.",
        "Read more reviews at www.example.org every day of the week.",
        "Advertisement",
        "• Thu",
        "ALL THE FILMS OF THE WEEK REVIEWED AND RATED FOR YOU.",
        "Written by Priya Ramanathan for the weekend edition.",
    ],
)
def test_site_furniture_is_recognised(text: str) -> None:
    assert is_furniture(text)


def test_review_sentences_are_not_furniture() -> None:
    for r in CORPUS.values():
        if r.slug in ("furniture-2026", "tags-2026"):
            continue
        for p in r.paragraphs[:3]:
            for s in sentences(p):
                if "<" not in s and "🐾" not in s:
                    assert not is_furniture(s), s


def test_pull_quote_is_a_complete_sentence_of_the_right_length(name: str) -> None:
    r = CORPUS[name]
    quote = pull_quote(r)
    if quote is None:
        assert not any(stands_alone(s) for p in r.paragraphs for s in sentences(p))
        return
    all_sentences = [s for p in r.paragraphs for s in sentences(p)]
    assert quote in all_sentences  # a whole sentence of the review, word for word
    assert stands_alone(quote)
    assert quote[0].isupper() or quote[0] in "“\"'"
    assert quote.rstrip("”’\"')").endswith((".", "!", "?"))
    assert not is_furniture(quote)
    fitting = [s for s in all_sentences if QUOTE_MIN <= len(s) <= QUOTE_MAX and stands_alone(s) and not is_furniture(s)]
    if fitting:
        assert QUOTE_MIN <= len(quote) <= QUOTE_MAX
    else:
        assert len(quote) < QUOTE_MIN  # only a shorter sentence was to be had


def test_pull_quote_prefers_evaluative_sentences() -> None:
    r = review(
        rating=4,
        paragraphs=[
            "The film follows a woman who inherits a cinema on the south coast of England in winter.",
            "Her brother arrives in the second act with a van, a dog and a plan to sell the building.",
            "It is the best British comedy in years, and the final scene in the projection booth is superb.",
            "The running time is one hour and fifty minutes, which passes at a comfortable pace.",
        ],
    )
    assert (
        pull_quote(r)
        == "It is the best British comedy in years, and the final scene in the projection booth is superb."
    )
    for key in ("velocity-zero-2026", "the-orchard-at-kessel-2025", "accented", "cyrillic"):
        assert EVALUATIVE.search(pull_quote(CORPUS[key]) or ""), key


def test_pull_quote_agrees_with_the_stars() -> None:
    paragraphs = [
        "The first hour is tedious, the dialogue is dull and the plotting fails at every turn of the story.",
        "The last ten minutes are superb, the best thing in it, and a brilliant glimpse of a better film.",
    ]
    assert "superb" in (pull_quote(review(rating=4.5, paragraphs=paragraphs)) or "")
    assert "tedious" in (pull_quote(review(rating=1, paragraphs=paragraphs)) or "")


def test_pull_quote_never_picks_a_sentence_that_leans_on_the_one_before() -> None:
    r = review(
        paragraphs=[
            "The film is set in a lighthouse on a rock in the Irish Sea, far from anywhere at all.",
            "But the best thing about it is the brilliant, superb, magnificent score by an unknown composer.",
            "She is superb as the keeper, and the best performer in a brilliant and magnificent cast.",
        ]
    )
    assert pull_quote(r) == "The film is set in a lighthouse on a rock in the Irish Sea, far from anywhere at all."


def test_pull_quote_skips_site_furniture() -> None:
    quote = pull_quote(CORPUS["furniture"])
    assert (
        quote == "The film is at its best when it lets the two of them argue about nothing at all for minutes on end."
    )


def test_pull_quote_of_a_single_sentence_body() -> None:
    assert pull_quote(CORPUS["single-sentence"]) == "A small, sad and funny film about two brothers and a dog."
    assert pull_quote(CORPUS["tiny-sentence"]) is None


def test_pull_quote_reads_a_20000_word_review_quickly() -> None:
    r = CORPUS["body-20000-words"]
    assert sum(len(p.split()) for p in BODY_20000) >= 20000
    start = time.process_time()
    quote = pull_quote(review(paragraphs=[*BODY_20000], rating=4.5))  # a fresh review: no cache
    assert time.process_time() - start < 1.0
    assert quote == EVALUATIVE_ENDING  # found at the very end, and chosen for its praise
    assert pull_quote(r) == EVALUATIVE_ENDING


def test_first_sentence_is_the_premise() -> None:
    r = CORPUS["harbour-lights-2026"]
    assert (first_sentence(r) or "").startswith("Harbour Lights follows a lighthouse keeper's daughter")
    assert (first_sentence(r, skip=first_sentence(r)) or "").startswith("Castellan shoots the coast")


@pytest.mark.parametrize(
    "rating, words",
    [(0, "no stars out of five"), (0.5, "half a star out of five"), (1, "one star out of five"),
     (1.5, "one and a half stars out of five"), (4, "four stars out of five"), (5, "five stars out of five")],
)  # fmt: skip
def test_spoken_stars(rating: float, words: str) -> None:
    assert spoken_stars(rating) == words


def test_every_rating_has_a_verdict() -> None:
    for half in range(11):
        assert verdict(half / 2) and verdict(half / 2) == verdict(half / 2).lower()
    assert verdict(5) == "a masterpiece" and verdict(0) == "one to avoid"


@pytest.mark.parametrize(
    "text, tag",
    [
        ("Her", "#Her"),
        ("Spike Jonze", "#SpikeJonze"),
        ("Céline Sciamma", "#CélineSciamma"),
        ("Schindler's List", "#SchindlersList"),
        ("Mission: Impossible – Dead Reckoning", "#MissionImpossibleDeadReckoning"),
        ("1917", "#1917Film"),
        ("千と千尋の神隠し", "#千と千尋の神隠し"),
        ("Брат", "#Брат"),
        ("🎬🎬", None),
        ("!!!", None),
    ],
)
def test_hashtag(text: str, tag: str | None) -> None:
    assert hashtag(text) == tag


def test_hashtags_are_valid_and_short(name: str) -> None:
    r = CORPUS[name]
    for source in [r.title, *r.directors, *r.cast]:
        tag = hashtag(source)
        if tag is not None:
            assert re.fullmatch(r"#[^\W_]+", tag), tag
            assert any(c.isalpha() for c in tag)
            assert len(tag) <= 41


def test_polarity_counts_praise_and_complaint() -> None:
    assert polarity("A brilliant, superb film.") == (2, 0)
    assert polarity("A tedious film that fails.") == (0, 2)
