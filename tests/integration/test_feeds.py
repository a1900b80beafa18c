"""The index and feeds, as readers and feed readers get them from a running stack.

Reviews go in through the webhook; index.html and the feeds come out of the publish
store over HTTP (the local store through ingest's /site/, S3 through moto), and a
feed reader (feedparser) and the JSON Feed 1.1 schema read them.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from urllib.parse import urljoin

import feedparser
import httpx
import jsonschema
import lxml.html
import pytest

from tests.conftest import FIXTURES, fixture_bytes
from tests.support.processes import poll, stop_process

pytestmark = pytest.mark.integration

SCHEMA = json.loads((FIXTURES / "jsonfeed-1.1.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def public(stack, key: str) -> httpx.Response:
    return httpx.get(f"{stack.env['MARQUEE_PUBLIC_BASE_URL']}/{key}", timeout=10)


def publish(stack, title: str, **changes) -> dict:
    body = json.loads(fixture_bytes("glasshouse.json")) | {"title": title, "year": None} | changes
    response = stack.submit(json.dumps(body).encode())
    assert response.status_code == 202, response.text
    return response.json()


def published(stack, accepted: dict) -> dict:
    record = stack.wait_for(accepted["id"])
    assert record["state"] == "published", record
    return record


def feeds(stack) -> tuple[feedparser.FeedParserDict, dict]:
    atom = public(stack, "feeds/reviews.atom")
    assert atom.status_code == 200
    parsed = feedparser.parse(atom.content, response_headers={"content-type": atom.headers["content-type"]})
    assert not parsed.bozo, parsed.get("bozo_exception")
    response = public(stack, "feeds/reviews.json")
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] in ("application/feed+json", "application/json")
    feed = response.json()
    errors = list(VALIDATOR.iter_errors(feed))
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors]
    return parsed, feed


def test_published_reviews_appear_in_the_index_and_both_feeds(stack):
    tag = uuid.uuid4().hex[:8]
    first = published(stack, publish(stack, f"Feed First {tag}"))
    second = published(stack, publish(stack, f"Feed Second {tag}", rating=2.5))
    slugs = [first["slug"], second["slug"]]

    atom, feed = feeds(stack)
    items = {item["_marquee"]["slug"]: item for item in feed["items"]}
    assert set(slugs) <= set(items)
    order = [item["_marquee"]["slug"] for item in feed["items"]]
    assert order.index(second["slug"]) < order.index(first["slug"])  # newest first
    item = items[second["slug"]]
    assert item["url"] == second["urls"]["article"] and item["_marquee"]["manifest_url"] == second["urls"]["manifest"]
    assert item["id"].startswith("tag:") and item["id"].endswith(f":reviews/{second['slug']}")
    assert item["_marquee"]["rating"] == 2.5 and "2.5 out of 5 stars" in item["title"]
    entries = {entry.link: entry for entry in atom.entries}
    assert entries[second["urls"]["article"]].id == item["id"]
    assert (
        public(stack, "feeds/reviews.json").json()["feed_url"]
        == f"{stack.env['MARQUEE_PUBLIC_BASE_URL']}/feeds/reviews.json"
    )

    # A reader follows the index's links to the articles.
    index_url = f"{stack.env['MARQUEE_PUBLIC_BASE_URL']}/index.html"
    index = httpx.get(index_url, timeout=10)
    assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
    links = lxml.html.fromstring(index.text).xpath("//li[@class='card']//h2/a/@href")
    absolute = [urljoin(index_url, href) for href in links]
    assert second["urls"]["article"] in absolute and first["urls"]["article"] in absolute
    assert absolute.index(second["urls"]["article"]) < absolute.index(first["urls"]["article"])
    article = httpx.get(absolute[absolute.index(second["urls"]["article"])], timeout=10)
    assert article.status_code == 200 and f"Feed Second {tag}" in article.text
    # …and back from the article to the index.
    back = lxml.html.fromstring(article.text).xpath("//a[@class='brand']/@href")[0]
    assert urljoin(second["urls"]["article"], back) == index_url


def test_a_revision_keeps_its_feed_id_and_its_place(local_stack):
    title = f"Feed Revision {uuid.uuid4().hex[:8]}"
    first = published(local_stack, publish(local_stack, title, rating=2))
    _, before = feeds(local_stack)
    item = next(i for i in before["items"] if i["_marquee"]["slug"] == first["slug"])

    again = published(local_stack, publish(local_stack, title, rating=4.5))
    assert again["slug"] == first["slug"]
    _, after = feeds(local_stack)
    same = [i for i in after["items"] if i["_marquee"]["slug"] == first["slug"]]
    assert len(same) == 1, "a revision is the same item, not a new one"
    assert same[0]["id"] == item["id"] and same[0]["date_published"] == item["date_published"]
    assert same[0]["_marquee"]["revision"] > item["_marquee"]["revision"] and same[0]["_marquee"]["rating"] == 4.5
    assert same[0]["date_modified"] >= item["date_modified"]


def test_two_uploads_finishing_together_both_reach_the_index_and_feeds(local_stack):
    """A second upload worker process; both uploads held at the start, then let go at once."""
    stack = local_stack
    extra = stack._spawn(
        "worker-upload-2", ["worker", "upload", "-n", "upload2@%h", "--include", "tests.support.pause"]
    )
    log = stack.dir / "worker-upload-2.log"
    trigger = stack.pause_dir / "marquee.upload"
    try:
        poll(lambda: "ready." in log.read_text(errors="replace"), timeout=40, what="the second upload worker")
        trigger.touch()
        tag = uuid.uuid4().hex[:8]
        a, b = publish(stack, f"Together A {tag}"), publish(stack, f"Together B {tag}")
        held = [stack.pause_dir / f"marquee.upload.{x['id']}.paused" for x in (a, b)]
        # Each worker runs one task at a time: both held means both worker processes have one.
        poll(lambda: all(p.exists() for p in held), timeout=60, what="both uploads to be held")
        trigger.unlink()  # both go on at the same moment
        slugs = {published(stack, a)["slug"], published(stack, b)["slug"]}
    finally:
        trigger.unlink(missing_ok=True)
        (stack.pause_dir / "marquee.upload.pid").unlink(missing_ok=True)
        stop_process(extra)
    atom, feed = feeds(stack)
    assert slugs <= {item["_marquee"]["slug"] for item in feed["items"]}
    assert slugs <= {entry.link.split("/")[-2] for entry in atom.entries}
    index = public(stack, "index.html").text
    assert all(f"reviews/{slug}/index.html" in index for slug in slugs)


def test_only_the_catalogue_and_review_folders_are_written_at_the_root(local_stack):
    root = Path(local_stack.env["MARQUEE_PUBLISH_URL"])
    published(local_stack, publish(local_stack, f"Layout {uuid.uuid4().hex[:8]}"))
    top = {p.name for p in root.iterdir() if not p.name.startswith(".tmp-")}
    assert top <= {"index.html", "pages", "feeds", "reviews"}, top
    assert {p.name for p in (root / "feeds").iterdir()} == {"reviews.json", "reviews.atom"}
    assert all(p.suffix == ".html" and p.stem.isdigit() for p in (root / "pages").iterdir())
