"""The article page: what a reader sees, what search engines read, and writer text kept inert."""

import json
import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

import pytest

from services.render.article import json_ld, render_article
from shared.models import Review
from shared.site.formatting import clean, format_runtime, star_kinds, stars_glyphs, stars_text
from shared.site.look import PALETTES, TEXT_PAIRS, contrast_ratio

URL = "https://reviews.example/reviews/glasshouse-2025/index.html"
CARD = "https://reviews.example/reviews/glasshouse-2025/instagram/card.jpg"


def review(**changes) -> Review:
    base: dict[str, Any] = {
        "id": "a" * 32,
        "writer": "alice",
        "slug": "glasshouse-2025",
        "revision": 1,
        "title": "Glasshouse",
        "year": 2025,
        "certificate": "12A",
        "runtime_minutes": 117,
        "directors": ["Anneke Voss", "Paul Reyes"],
        "cast": ["Céline Marchetti", "Jonah Brandt"],
        "rating": 3.5,
        "paragraphs": ["A botanist’s thriller set in a hothouse.", "The ending is brave."],
        "author": "Ruth Ellery",
        "note": "Seen at a press screening.",
        "date_published": datetime(2026, 3, 1, 9, tzinfo=UTC),
    }
    return Review(**(base | changes))


class Page(HTMLParser):
    """Collects what a browser would build: elements, attributes, script blocks, text."""

    def __init__(self, html: str):
        super().__init__()
        self.elements: list[tuple[str, dict]] = []
        self.scripts: list[str] = []
        self.text: list[str] = []
        self._in_script = False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        (self.scripts if self._in_script else self.text).append(data)

    def meta(self, key: str) -> str | None:
        return next(
            (a.get("content") for t, a in self.elements if t == "meta" and key in (a.get("property"), a.get("name"))),
            None,
        )

    def link(self, rel: str) -> str | None:
        return next((a.get("href") for t, a in self.elements if t == "link" and a.get("rel") == rel), None)


def test_the_page_shows_every_part_of_the_review():
    page = Page(render_article(review(), article_url=URL))
    text = " ".join(page.text)
    for part in (
        "Glasshouse",
        "12A",
        "1h 57m",
        "Anneke Voss, Paul Reyes",
        "Céline Marchetti, Jonah Brandt",
        "A botanist’s thriller set in a hothouse.",
        "The ending is brave.",
        "Ruth Ellery",
        "Seen at a press screening.",
        "1 March 2026",
    ):
        assert part in text, part
    assert "★★★½☆" in "".join(page.text)  # without a stylesheet, the glyphs still read right
    assert any(a.get("role") == "img" and a.get("aria-label") == "3.5 out of 5 stars" for _, a in page.elements)


def test_the_page_carries_schema_org_review_json_ld():
    page = Page(render_article(review(), article_url=URL))
    data = json.loads(page.scripts[0])
    assert data["@type"] == "Review" and data["datePublished"] == "2026-03-01"
    assert data["itemReviewed"]["@type"] == "Movie" and data["itemReviewed"]["name"] == "Glasshouse"
    assert [d["name"] for d in data["itemReviewed"]["director"]] == ["Anneke Voss", "Paul Reyes"]
    assert [a["name"] for a in data["itemReviewed"]["actor"]] == ["Céline Marchetti", "Jonah Brandt"]
    assert data["reviewRating"] == {"@type": "Rating", "ratingValue": 3.5, "bestRating": 5, "worstRating": 0}
    assert data["author"] == {"@type": "Person", "name": "Ruth Ellery"}
    assert "dateModified" not in data  # a first revision is not modified


def test_a_revision_says_when_it_was_updated():
    revised = review(revision=2, date_modified=datetime(2026, 3, 4, 18, tzinfo=UTC))
    page = Page(render_article(revised, article_url=URL))
    assert json.loads(page.scripts[0])["dateModified"] == "2026-03-04T18:00:00+00:00"
    assert page.meta("article:published_time") == "2026-03-01T09:00:00+00:00"
    assert page.meta("article:modified_time") == "2026-03-04T18:00:00+00:00"
    assert "Updated" in " ".join(page.text) and "4 March 2026" in " ".join(page.text)


def test_the_author_in_json_ld_stays_under_100_characters():
    data = json_ld(review(author="A" * 150), article_url=URL)
    assert len(data["author"]["name"]) < 100


def test_the_page_carries_sharing_metadata_canonical_url_and_language():
    html = render_article(review(), article_url=URL, image_url=CARD)
    page = Page(html)
    assert page.meta("og:type") == "article"
    assert (page.meta("og:title") or "").startswith("Glasshouse review — 3.5 out of 5 stars")
    assert page.meta("og:url") == URL and page.meta("og:image") == CARD and page.meta("og:image:alt")
    assert page.meta("article:author") == "Ruth Ellery"
    assert page.meta("article:published_time") == "2026-03-01T09:00:00+00:00"
    assert page.meta("og:description") == page.meta("description") == "A botanist’s thriller set in a hothouse."
    assert page.meta("twitter:card") == "summary_large_image" and page.meta("twitter:image") == CARD
    assert page.link("canonical") == URL
    assert re.search(r'<html lang="en-GB">', html)


def test_without_a_share_image_there_is_no_image_tag_and_a_small_card():
    page = Page(render_article(review(), article_url=URL))
    assert page.meta("og:image") is None and page.meta("twitter:card") == "summary"


def test_the_description_is_the_first_paragraph_shortened_at_a_word():
    long = "Word " * 80
    page = Page(render_article(review(paragraphs=[long.strip(), "Second."]), article_url=URL))
    description = page.meta("description") or ""
    assert len(description) <= 160 and description.endswith("…") and description.startswith("Word Word")


def test_the_page_links_to_the_index_and_feeds_relatively():
    page = Page(render_article(review(), article_url=URL))
    hrefs = {a.get("href") for t, a in page.elements if t in ("a", "link")}
    assert {"../../index.html", "../../feeds/reviews.atom", "../../feeds/reviews.json"} <= hrefs


HOSTILE = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "</script><script>alert(2)</script>",
    "{{ 7*7 }} {% for x in range(3) %}loop{% endfor %}",
    "javascript:alert(1)",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    '<a href="javascript:alert(1)">click</a><iframe src="data:text/html,x"></iframe>',
    "<svg onload=alert(1)>",
    "../../../index.html",
]


@pytest.mark.parametrize("attack", HOSTILE)
def test_writer_text_stays_text(attack):
    html = render_article(
        review(title=attack, author=attack, paragraphs=[attack], note=attack, directors=[attack], cast=[attack]),
        article_url=URL,
    )
    page = Page(html)
    assert len(page.scripts) == 1, "a writer's text opened a script element"
    assert json.loads(page.scripts[0])["itemReviewed"]["name"] == attack  # intact as data
    assert not any(t in ("img", "iframe", "svg", "object", "embed") for t, _ in page.elements)
    assert not any(k.startswith("on") for _, attrs in page.elements for k in attrs)
    urls = [v for _, attrs in page.elements for k, v in attrs.items() if k in ("href", "src", "action") and v]
    urls += [
        a["content"] for t, a in page.elements if t == "meta" and a.get("property", "").endswith((":url", ":image"))
    ]
    assert not any(u.lstrip().lower().startswith(("javascript:", "data:")) for u in urls)
    assert "49" not in " ".join(page.text) and "looploop" not in html  # never evaluated as a template
    assert attack in " ".join(page.text)  # shown to the reader exactly as written


def test_control_characters_never_reach_the_page():
    html = render_article(review(title="Bell\x07 and\x00 null\ufffe", author="Ruth\x1b Ellery"), article_url=URL)
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe]", html)
    assert "Bell and null" in html and "Ruth Ellery" in html
    assert clean("tab\tand\nnewline") == "tab\tand\nnewline"


def test_stars_and_runtime_read_naturally():
    assert stars_text(1) == "1 out of 5 stars" and stars_text(4.5) == "4.5 out of 5 stars"
    assert stars_glyphs(0) == "☆☆☆☆☆" and stars_glyphs(5) == "★★★★★" and stars_glyphs(2.5) == "★★½☆☆"
    assert star_kinds(3.5) == ["full", "full", "full", "half", "empty"]
    assert format_runtime(45) == "45 min" and format_runtime(126) == "2h 06m"
    assert re.fullmatch(r"[★½☆]{5}", stars_glyphs(3.5))


@pytest.mark.parametrize("scheme", sorted(PALETTES))
def test_every_text_colour_meets_wcag_aa_on_its_background(scheme):
    palette = PALETTES[scheme]
    for text, background in TEXT_PAIRS:
        ratio = contrast_ratio(palette[text], palette[background])
        assert ratio >= 4.5, f"{scheme}: {text} on {background} is {ratio:.2f}:1, under 4.5:1"


def test_contrast_ratio_matches_wcag_examples():
    assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21)
    assert contrast_ratio("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)  # the classic near miss


def test_the_stylesheet_uses_only_the_palette():
    html = render_article(review(), article_url=URL)
    style = re.search(r"<style>(.*)</style>", html, re.S)
    assert style
    css = style.group(1)
    # Take out the palette's own declarations; every other colour must be a var(--…).
    body = re.sub(r"--[a-z-]+:\s*#[0-9a-f]{6};", "", css)
    body = re.sub(r"@media print \{.*?\n  \}", "", body, flags=re.S)  # print: black on white
    assert not re.findall(r"#[0-9a-fA-F]{3,8}\b|rgba?\(|hsla?\(", body)
    used = set(re.findall(r"var\(--([a-z-]+)\)", body))
    assert used - {"serif", "sans"} <= set(PALETTES["light"])


@pytest.mark.parametrize("source", ["body", "query", None])
def test_review_json_records_where_the_title_came_from_as_its_schema_says(source):
    from services.render.article import public_review
    from tests.support.event_contract import published_violations

    document = json.loads(json.dumps(public_review(review(title_source=source), article_url=URL)))
    assert document["title_source"] == source  # always written: null only for a review validated before
    assert published_violations("review.json", document) == []
    # And the schema is no formality: a field it does not describe, or a source it does not know, fails.
    assert published_violations("review.json", document | {"title_source": "header"})
    assert published_violations("review.json", document | {"signed": True})
