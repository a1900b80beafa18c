"""The article page: what a reader sees, what search engines read, and writer text kept inert."""

import json
import re
from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest

from services.render.article import format_runtime, render_article, stars_glyphs, stars_text
from shared.models import Review

URL = "https://reviews.example/reviews/glasshouse-2025/index.html"


def review(**changes) -> Review:
    base = dict(
        id="a" * 32, writer="alice", slug="glasshouse-2025", revision=1, title="Glasshouse", year=2025,
        certificate="12A", runtime_minutes=117, directors=["Anneke Voss", "Paul Reyes"],
        cast=["Céline Marchetti", "Jonah Brandt"], rating=3.5,
        paragraphs=["A botanist’s thriller set in a hothouse.", "The ending is brave."],
        author="Ruth Ellery", note="Seen at a press screening.", date_published=datetime(2026, 3, 1, 9, tzinfo=UTC),
    )
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
        return next((a.get("content") for t, a in self.elements if t == "meta" and key in (a.get("property"), a.get("name"))), None)


def test_the_page_shows_every_part_of_the_review():
    page = Page(render_article(review(), article_url=URL))
    text = " ".join(page.text)
    for part in ("Glasshouse", "12A", "1h 57m", "Anneke Voss, Paul Reyes", "Céline Marchetti, Jonah Brandt",
                 "A botanist’s thriller set in a hothouse.", "The ending is brave.", "Ruth Ellery",
                 "Seen at a press screening.", "★★★½☆"):
        assert part in text, part
    assert any(a.get("aria-label") == "3.5 out of 5 stars" for _, a in page.elements)


def test_the_page_carries_schema_org_review_json_ld():
    page = Page(render_article(review(), article_url=URL))
    data = json.loads(page.scripts[0])
    assert data["@type"] == "Review" and data["datePublished"] == "2026-03-01"
    assert data["itemReviewed"]["@type"] == "Movie" and data["itemReviewed"]["name"] == "Glasshouse"
    assert [d["name"] for d in data["itemReviewed"]["director"]] == ["Anneke Voss", "Paul Reyes"]
    assert [a["name"] for a in data["itemReviewed"]["actor"]] == ["Céline Marchetti", "Jonah Brandt"]
    assert data["reviewRating"] == {"@type": "Rating", "ratingValue": 3.5, "bestRating": 5, "worstRating": 0}
    assert data["author"] == {"@type": "Person", "name": "Ruth Ellery"}


def test_the_page_carries_open_graph_tags():
    page = Page(render_article(review(), article_url=URL, image_url="https://cdn.example/card.jpg"))
    assert page.meta("og:type") == "article"
    assert page.meta("og:title").startswith("Glasshouse review")
    assert page.meta("og:url") == URL and page.meta("og:image") == "https://cdn.example/card.jpg"
    assert page.meta("article:author") == "Ruth Ellery"
    assert page.meta("og:description") == "A botanist’s thriller set in a hothouse."


HOSTILE = [
    '<script>alert(1)</script>',
    '"><img src=x onerror=alert(1)>',
    "</script><script>alert(2)</script>",
    "{{ 7*7 }} {% for x in range(3) %}loop{% endfor %}",
    "javascript:alert(1)",
]


@pytest.mark.parametrize("attack", HOSTILE)
def test_writer_text_stays_text(attack):
    html = render_article(review(title=attack, author=attack, paragraphs=[attack], note=attack,
                                 directors=[attack], cast=[attack]), article_url=URL)
    page = Page(html)
    assert len(page.scripts) == 1, "a writer's text opened a script element"
    assert json.loads(page.scripts[0])["itemReviewed"]["name"] == attack  # intact as data
    assert not any(t == "img" for t, _ in page.elements)
    assert not any(k.startswith("on") for _, attrs in page.elements for k in attrs)
    assert "49" not in " ".join(page.text) and "looploop" not in html  # never evaluated as a template
    assert attack in " ".join(page.text)  # shown to the reader exactly as written


def test_stars_and_runtime_read_naturally():
    assert stars_text(1) == "1 out of 5 stars" and stars_text(4.5) == "4.5 out of 5 stars"
    assert stars_glyphs(0) == "☆☆☆☆☆" and stars_glyphs(5) == "★★★★★" and stars_glyphs(2.5) == "★★½☆☆"
    assert format_runtime(45) == "45 min" and format_runtime(126) == "2h 06m"
    assert re.fullmatch(r"[★½☆]{5}", stars_glyphs(3.5))
