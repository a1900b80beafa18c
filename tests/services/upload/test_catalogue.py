"""The catalogue's pure part: which pages a publication changes, and what the index and feeds say.

Feeds are read back by real consumers: feedparser (the reader most Python tools use)
for Atom, and the JSON Feed 1.1 schema (tests/fixtures) for the JSON Feed.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import feedparser
import jsonschema
import lxml.html
import pytest

from services.upload.catalogue import (
    ATOM_FEED_KEY,
    FEED_SIZE,
    INDEX_KEY,
    JSON_FEED_KEY,
    PAGE_SIZE,
    Snapshot,
    atom_feed,
    entry_fields,
    feed_bounds,
    index_bounds,
    item_id,
    json_feed,
    make_entry,
    newest_page,
    objects_for,
    page_bounds,
    page_key,
    page_of,
    pages_touched,
    render_index,
    render_page,
    tag_prefix,
)
from shared.models import Review

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
SCHEMA = json.loads((FIXTURES / "jsonfeed-1.1.schema.json").read_text())
HOSTILE = json.loads((FIXTURES / "hostile.json").read_text())["strings"]
BASE = "https://reviews.example/site"
TAG = tag_prefix(BASE, datetime(2026, 3, 1).date())
START = datetime(2026, 3, 1, 9, tzinfo=UTC)


def review(n: int, **changes) -> Review:
    base: dict[str, Any] = {
        "id": f"{n:032x}",
        "writer": "alice",
        "slug": f"film-{n}",
        "revision": 1,
        "title": f"Film {n}",
        "year": 2000 + n % 26,
        "certificate": "15",
        "runtime_minutes": 100,
        "directors": ["D"],
        "cast": [],
        "rating": (n % 11) / 2,
        "paragraphs": [f"The first paragraph of review {n}, which a reader sees on the index.", "More."],
        "author": f"Critic {n}",
        "note": None,
        "date_published": START + timedelta(hours=n),
    }
    return Review(**(base | changes))


def snapshot(count: int, *, reviews: dict[int, Review] | None = None, image: bool = True) -> Snapshot:
    entries = {}
    for seq in range(1, count + 1):
        r = (reviews or {}).get(seq) or review(seq)
        key = f"reviews/{r.slug}/instagram/card.jpg" if image else None
        entries[seq] = make_entry(entry_fields(r, image_key=key), seq=seq, published=r.date_published.isoformat())
    return Snapshot(version=1, count=count, tag=TAG, entries=entries)


def slugs_in(html: str) -> list[str]:
    return [href.split("/")[-2] for href in lxml.html.fromstring(html).xpath("//li[@class='card']//h2/a/@href")]


def test_pages_are_numbered_from_the_oldest_so_a_full_page_never_changes():
    assert [page_of(s) for s in (1, PAGE_SIZE, PAGE_SIZE + 1, 10 * PAGE_SIZE + 1)] == [1, 1, 2, 11]
    assert page_bounds(2) == (PAGE_SIZE + 1, 2 * PAGE_SIZE)
    assert pages_touched(5) == [1]
    assert pages_touched(PAGE_SIZE + 1) == [2, 1]  # opens page 2: page 1's "newer" link now leads there
    assert pages_touched(PAGE_SIZE + 2) == [2]
    assert page_key(3) == "pages/3.html"
    with pytest.raises(ValueError):
        page_key(0)


def test_a_full_page_is_the_same_bytes_however_many_reviews_follow():
    full = render_page(snapshot(2 * PAGE_SIZE + 1), 1)
    assert render_page(snapshot(5 * PAGE_SIZE + 7), 1) == full
    assert slugs_in(full) == [f"film-{n}" for n in range(PAGE_SIZE, 0, -1)]


def test_the_index_shows_the_newest_page_and_the_one_before_newest_first():
    count = 3 * PAGE_SIZE + 4
    html = render_index(snapshot(count))
    assert index_bounds(count) == (2 * PAGE_SIZE + 1, count)
    assert slugs_in(html) == [f"film-{n}" for n in range(count, 2 * PAGE_SIZE, -1)]
    older = lxml.html.fromstring(html).xpath("//nav[@class='pager']//a/@href")
    assert older == ["pages/2.html"]  # pages 3 and 4 are on the index; older ones are linked


def test_pages_link_to_older_and_newer_pages_and_the_newest_back_to_the_index():
    count = 3 * PAGE_SIZE + 4
    links = {
        n: lxml.html.fromstring(render_page(snapshot(count), n)).xpath("//nav[@class='pager']//a/@href")
        for n in range(1, newest_page(count) + 1)
    }
    assert links == {1: ["2.html"], 2: ["3.html", "1.html"], 3: ["4.html", "2.html"], 4: ["../index.html", "3.html"]}
    card = lxml.html.fromstring(render_page(snapshot(count), 1)).xpath("//li[@class='card']//h2/a/@href")[0]
    assert card == "../reviews/film-20/index.html"


def test_an_empty_catalogue_has_an_index_saying_so():
    html = render_index(Snapshot(version=0, count=0, tag=TAG, entries={}))
    assert "No reviews have been published yet." in html and not slugs_in(html)


def test_a_publication_writes_its_page_the_feeds_and_the_index_last():
    keys = [
        key for key, _, _ in objects_for(snapshot(PAGE_SIZE + 1), pages=pages_touched(PAGE_SIZE + 1), base_url=BASE)
    ]
    assert keys == ["pages/1.html", "pages/2.html", JSON_FEED_KEY, ATOM_FEED_KEY, INDEX_KEY]


def test_the_feeds_carry_the_latest_fifty_newest_first():
    count = FEED_SIZE + 30
    feed = json_feed(snapshot(count), base_url=BASE)
    assert feed_bounds(count) == (31, count)
    assert [item["_marquee"]["slug"] for item in feed["items"]] == [f"film-{n}" for n in range(count, 30, -1)]
    atom = feedparser.parse(atom_feed(snapshot(count), base_url=BASE))
    assert [e.link for e in atom.entries] == [item["url"] for item in feed["items"]]


def test_feedparser_reads_the_atom_feed_without_complaint():
    parsed = feedparser.parse(atom_feed(snapshot(3), base_url=BASE))
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    assert parsed.feed.title == "Marquee: latest film reviews" and parsed.feed.language == "en-GB"
    assert parsed.feed.id == f"{TAG}feeds/reviews"
    assert any(link.rel == "self" and link.href == f"{BASE}/{ATOM_FEED_KEY}" for link in parsed.feed.links)
    entry = parsed.entries[0]
    assert entry.id == item_id(TAG, "film-3") == "tag:reviews.example,2026-03-01:reviews/film-3"
    assert entry.title == "Film 3 (2003) review — 1.5 out of 5 stars"
    assert entry.link == f"{BASE}/reviews/film-3/index.html"
    assert entry.author == "Critic 3"
    assert entry.published_parsed[:4] == (2026, 3, 1, 12)
    assert entry.summary.startswith("The first paragraph of review 3")
    assert "1.5 out of 5 stars" in entry.content[0].value


def test_the_json_feed_is_valid_json_feed_1_1():
    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
    validator = jsonschema.Draft202012Validator(SCHEMA, format_checker=checker)
    assert {"uri", "date-time"} <= set(checker.checkers), "pip install rfc3986-validator rfc3339-validator"
    validator.check_schema(SCHEMA)
    for images in (True, False):
        feed = json.loads(json.dumps(json_feed(snapshot(FEED_SIZE + 5, image=images), base_url=BASE)))
        errors = sorted(validator.iter_errors(feed), key=str)
        assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)
    # The schema is not a pushover: the mistakes a hand-written feed makes fail it.
    good = json_feed(snapshot(1), base_url=BASE)
    for broken in (
        {**good, "version": "https://jsonfeed.org/version/1"},
        {**good, "items": [{k: v for k, v in good["items"][0].items() if k != "content_html"}]},
        {**good, "items": [{**good["items"][0], "date_published": "1 March 2026"}]},
        {**good, "items": [{**good["items"][0], "url": "not a url"}]},
        {**good, "home_page": good["home_page_url"]},
    ):
        assert list(validator.iter_errors(broken)), broken


def test_a_feed_item_keeps_its_id_when_the_review_is_revised():
    first = json_feed(snapshot(2), base_url=BASE)["items"][0]
    revised = review(2, revision=2, rating=5, title="Film 2: Director's Cut", date_modified=START + timedelta(days=9))
    second = json_feed(snapshot(2, reviews={2: revised}), base_url=BASE)["items"][0]
    assert second["id"] == first["id"] == "tag:reviews.example,2026-03-01:reviews/film-2"
    assert second["title"] != first["title"] and second["_marquee"]["revision"] == 2
    assert second["date_published"] == first["date_published"] and second["date_modified"] > first["date_modified"]
    atom = feedparser.parse(atom_feed(snapshot(2, reviews={2: revised}), base_url=BASE)).entries[0]
    assert atom.id == first["id"] and atom.updated_parsed > atom.published_parsed


def test_feed_items_link_to_the_review_and_its_data():
    item = json_feed(snapshot(1), base_url=BASE)["items"][0]
    assert item["url"] == f"{BASE}/reviews/film-1/index.html"
    assert item["image"] == f"{BASE}/reviews/film-1/instagram/card.jpg"
    assert item["_marquee"]["manifest_url"] == f"{BASE}/reviews/film-1/manifest.json"
    assert item["_marquee"]["review_url"] == f"{BASE}/reviews/film-1/review.json"
    assert item["_marquee"]["rating"] == 0.5 and item["_marquee"]["best_rating"] == 5


def test_the_same_catalogue_makes_the_same_bytes():
    # The upload compares checksums, so a publication that changes nothing writes nothing.
    a = objects_for(snapshot(7), pages=[1], base_url=BASE)
    assert a == objects_for(snapshot(7), pages=[1], base_url=BASE)


@pytest.mark.parametrize("attack", HOSTILE)
def test_writer_text_stays_text_in_the_feeds_and_the_index(attack):
    hostile = review(1, title=attack, author=attack[:99], paragraphs=[attack])
    snap = snapshot(1, reviews={1: hostile})
    atom = feedparser.parse(atom_feed(snap, base_url=BASE))
    assert not atom.bozo, atom.get("bozo_exception")
    assert len(atom.entries) == 1 and atom.entries[0].title.startswith(attack)  # one entry, the title as text
    item = json_feed(snap, base_url=BASE)["items"][0]
    assert item["title"].startswith(attack) and item["summary"] == attack
    content = lxml.html.fragment_fromstring(item["content_html"], create_parent="div")
    assert not content.xpath("//script|//iframe|//svg|//*[starts-with(@id,'injected')]|//*[@onerror or @onload]")
    assert [a.get("href") for a in content.iter("a")] == [item["url"]]
    index = lxml.html.fromstring(render_index(snap))
    assert not index.xpath("//*[starts-with(@id,'injected')]|//iframe|//img|//svg")
    assert index.xpath("string(//li[@class='card']//h2/a)").startswith(attack)


def test_control_characters_never_reach_a_feed():
    snap = snapshot(1, reviews={1: review(1, title="Bell\x07\x00 \ufffe", author="Esc\x1bape", paragraphs=["A\x0cB"])})
    parsed = feedparser.parse(atom_feed(snap, base_url=BASE))
    assert not parsed.bozo and parsed.entries[0].title.startswith("Bell ") and parsed.entries[0].author == "Escape"


def test_without_a_site_wide_tag_each_id_comes_from_the_review_s_first_publication():
    derived = Snapshot(version=1, count=20, tag="", entries=snapshot(20).entries)
    feed = json_feed(derived, base_url=BASE)
    ids = {item["_marquee"]["slug"]: item["id"] for item in feed["items"]}
    # Published at 9:00 + n hours from 1 March (UTC): film-15 is the first of 2 March.
    assert ids["film-14"] == "tag:reviews.example,2026-03-01:reviews/film-14"
    assert ids["film-15"] == "tag:reviews.example,2026-03-02:reviews/film-15"
    # A revision (same first publication, new date_modified) keeps its id.
    revised = review(15, revision=2, date_modified=START + timedelta(days=30))
    again = snapshot(20, reviews={15: revised}).entries
    assert (
        json_feed(Snapshot(version=2, count=20, tag="", entries=again), base_url=BASE)["items"][5]["id"]
        == ids["film-15"]
    )
    parsed = feedparser.parse(atom_feed(derived, base_url=BASE))
    assert parsed.feed.id == f"{BASE}/{ATOM_FEED_KEY}"  # the feed's own id: its address
    assert {e.link.split("/")[-2]: e.id for e in parsed.entries} == ids
