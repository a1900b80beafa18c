"""The catalogue over a real redis-server and a real store: cost, concurrency, revisions, withdrawal.

The server is this module's own, so its statistics count only what these tests do.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
import redis

from services.upload.catalogue import (
    ATOM_FEED_KEY,
    FEED_SIZE,
    INDEX_KEY,
    JSON_FEED_KEY,
    PAGE_SIZE,
    entry_fields,
    index_bounds,
    newest_page,
    page_key,
    tag_prefix,
)
from services.upload.catalogue_store import Catalogue, publish, withdraw
from shared.models import Review
from shared.storage import LocalStore, ObjectInfo, Store

BASE = "http://127.0.0.1:8000/site"
START = datetime(2026, 3, 1, 9, tzinfo=UTC)
TAG = tag_prefix(BASE, START.date())  # the reviews here were first published that day: their ids' prefix


@pytest.fixture
def client(own_redis_server):
    client = redis.Redis.from_url(own_redis_server.url, decode_responses=True)  # as the services connect
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def store(tmp_path):
    return LocalStore(tmp_path / "publish", str(tmp_path / "publish"))


def review(name: str, n: int = 0, **changes) -> Review:
    base: dict[str, Any] = {
        "id": f"{n:032x}",
        "writer": "alice",
        "slug": name,
        "revision": 1,
        "title": name.replace("-", " ").title(),
        "year": 2025,
        "certificate": "15",
        "runtime_minutes": 100,
        "directors": ["D"],
        "cast": [],
        "rating": 3,
        "paragraphs": ["A first paragraph of a steady length for every review in these tests."],
        "author": "Critic",
        "note": None,
        "date_published": START + timedelta(minutes=n),
    }
    return Review(**(base | changes))


def listed(store, key: str) -> set[str]:
    """The slugs a published index page or feed lists."""
    data = store.get(key).decode()
    if key == JSON_FEED_KEY:
        return {item["_marquee"]["slug"] for item in json.loads(data)["items"]}
    if key == ATOM_FEED_KEY:
        import feedparser

        return {entry.link.split("/")[-2] for entry in feedparser.parse(data).entries}
    import lxml.html

    return {href.split("/")[-2] for href in lxml.html.fromstring(data).xpath("//li[@class='card']//h2/a/@href")}


class CountingStore:
    """A store that counts what is asked of it."""

    def __init__(self, inner):
        self.inner, self.url = inner, inner.url
        self.calls = {"put": 0, "get": 0, "head": 0, "list": 0, "delete": 0}
        self.put_keys: list[str] = []
        self.bytes_written = 0

    def put(self, key, data, *, content_type, cache_control=None):
        self.calls["put"] += 1
        self.put_keys.append(key)
        self.bytes_written += len(data)
        self.inner.put(key, data, content_type=content_type, cache_control=cache_control)

    def get(self, key):
        self.calls["get"] += 1
        return self.inner.get(key)

    def head(self, key) -> ObjectInfo | None:
        self.calls["head"] += 1
        return self.inner.head(key)

    def list(self, prefix):
        self.calls["list"] += 1
        return self.inner.list(prefix)

    def delete(self, key):
        self.calls["delete"] += 1
        self.inner.delete(key)

    def ping(self):
        self.inner.ping()


def seed(client: redis.Redis, first: int, last: int) -> None:
    """Put entries ``first``…``last`` straight into Redis, as if that many reviews had been published."""
    catalogue = Catalogue(client)
    with client.pipeline(transaction=False) as pipe:
        for n in range(first, last + 1):
            fields = entry_fields(review(f"seed-{n:06d}", n), image_key=None)
            catalogue.record(fields, published=START + timedelta(minutes=n), pipe=pipe)
            if n % 2000 == 0:
                pipe.execute()
        pipe.execute()


def measure(client: redis.Redis, store, n: int) -> dict:
    """Publish review number ``n``; count the Redis commands and bytes and the store calls it took."""
    counting = CountingStore(store)
    client.config_resetstat()
    result = publish(client, cast(Store, counting), review(f"film-{n:06d}", n), base_url=BASE)  # no copy: unused
    stats = client.info("commandstats")
    # Loading a script the server has not seen yet is a one-off, not a cost of publishing.
    ignored = ("cmdstat_info", "cmdstat_config|resetstat", "cmdstat_script|load")
    commands = sum(
        v["calls"] - v.get("failed_calls", 0) - v.get("rejected_calls", 0) for k, v in stats.items() if k not in ignored
    )
    read = client.info("stats")["total_net_output_bytes"]
    assert result.seq == n
    return {
        "commands": commands,
        "bytes_read": read,
        "puts": counting.calls["put"],
        "heads": counting.calls["head"],
        "gets": counting.calls["get"],
        "lists": counting.calls["list"],
        "written": sorted(counting.put_keys),
        "bytes_written": counting.bytes_written,
    }


def test_a_publication_costs_the_same_with_ten_or_ten_thousand_reviews_published(client, store):
    # Publication 11, 1,011 and 10,011 each land 11th on their page, so each does the same work
    # if, and only if, nothing it reads or writes grows with the catalogue.
    seed(client, 1, 10)
    small = measure(client, store, 11)
    seed(client, 12, 1010)
    large = measure(client, store, 1011)
    seed(client, 1012, 10010)
    huge = measure(client, store, 10011)

    assert huge["written"] == [ATOM_FEED_KEY, JSON_FEED_KEY, INDEX_KEY, page_key(501)]
    assert large["written"] == [ATOM_FEED_KEY, JSON_FEED_KEY, INDEX_KEY, page_key(51)]
    for cost in (small, large, huge):
        assert cost["lists"] == 0 and cost["gets"] == 0, cost  # never a listing, never a read of the store
        assert cost["puts"] == 4 and cost["heads"] == 4, cost
    assert huge["commands"] == large["commands"], (large, huge)
    assert huge["bytes_read"] <= large["bytes_read"] * 1.01, (large, huge)  # seq numbers gain a digit
    assert huge["bytes_written"] <= large["bytes_written"] * 1.01, (large, huge)
    # Below the window (50 feed items, two index pages) a publication does less, never more.
    assert small["commands"] <= large["commands"] and small["bytes_read"] < large["bytes_read"]
    assert large["bytes_read"] < 64_000  # about fifty small entries, not the catalogue


def test_opening_a_new_page_also_rewrites_the_page_before(client, store):
    seed(client, 1, PAGE_SIZE)
    cost = measure(client, store, PAGE_SIZE + 1)
    assert cost["written"] == [ATOM_FEED_KEY, JSON_FEED_KEY, INDEX_KEY, page_key(1), page_key(2)]
    assert 'href="2.html"' in store.get(page_key(1)).decode()


def test_simultaneous_publications_all_appear_in_the_index_and_feeds(own_redis_server, client, store):
    threads, rounds = 8, 10
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def publisher(t: int) -> None:
        own = redis.Redis.from_url(own_redis_server.url, decode_responses=True)  # a connection each, as workers have
        try:
            for r in range(rounds):
                barrier.wait(timeout=30)  # every thread publishes at the same moment
                publish(own, store, review(f"film-{r}-{t}", r * threads + t), base_url=BASE)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
            barrier.abort()

    workers = [threading.Thread(target=publisher, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert not errors, errors
    everyone = {f"film-{r}-{t}" for r in range(rounds) for t in range(threads)}
    order = client.zrange("marquee:catalogue:seq", 0, -1)  # by seq: one place each
    assert len(order) == len(everyone) and set(order) == everyone
    pages = newest_page(len(order))
    assert set().union(*(listed(store, page_key(n)) for n in range(1, pages + 1))) == everyone
    for n in range(1, pages + 1):
        assert listed(store, page_key(n)) == set(order[(n - 1) * PAGE_SIZE : n * PAGE_SIZE]), n
    assert listed(store, INDEX_KEY) == set(order[index_bounds(len(order))[0] - 1 :])
    for key in (JSON_FEED_KEY, ATOM_FEED_KEY):
        assert listed(store, key) == set(order[-FEED_SIZE:]), key


class Interleaved:
    """A store that lets another publication run in full just before this one's first write."""

    def __init__(self, inner, meanwhile):
        self.inner, self.url, self.meanwhile, self.fired = inner, inner.url, meanwhile, False

    def put(self, key, data, **kwargs):
        if not self.fired:
            self.fired = True
            self.meanwhile()
        self.inner.put(key, data, **kwargs)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_a_publication_that_wrote_from_a_stale_snapshot_writes_again(client, store, monkeypatch):
    # A reads the catalogue (itself only); B publishes in full; A writes what it read, which
    # lacks B. A must notice that the catalogue moved on and write again.
    def b_publishes():
        publish(client, store, review("film-b", 2), base_url=BASE)

    result = publish(client, Interleaved(store, b_publishes), review("film-a", 1), base_url=BASE)
    assert result.rounds == 2
    for key in (INDEX_KEY, JSON_FEED_KEY, ATOM_FEED_KEY, page_key(1)):
        assert listed(store, key) == {"film-a", "film-b"}, key

    # The same interleaving without the version check loses B: the test above can fail.
    client.flushdb()
    real_snapshot = Catalogue.snapshot

    def remembering(self, pages):
        snap = real_snapshot(self, pages)
        self.seen = snap.version
        return snap

    monkeypatch.setattr(Catalogue, "snapshot", remembering)
    monkeypatch.setattr(Catalogue, "version", lambda self: self.seen)  # "nothing changed", always
    publish(client, Interleaved(store, b_publishes), review("film-a", 1), base_url=BASE)
    assert listed(store, INDEX_KEY) == {"film-a"}


def test_a_revision_updates_its_entry_in_place_and_keeps_its_id(client, store):
    publish(client, store, review("first", 1), base_url=BASE)
    publish(client, store, review("second", 2), base_url=BASE)
    revised = review(
        "first",
        3,
        revision=2,
        rating=5,
        title="First Revised",
        date_published=START + timedelta(minutes=1),
        date_modified=START + timedelta(days=2),
    )
    publish(client, store, revised, base_url=BASE)
    feed = json.loads(store.get(JSON_FEED_KEY))
    assert [i["_marquee"]["slug"] for i in feed["items"]] == ["second", "first"]  # its place is kept
    first = feed["items"][1]
    assert first["id"] == f"{TAG}reviews/first" and first["title"].startswith("First Revised")
    assert first["date_published"] == (START + timedelta(minutes=1)).isoformat()
    assert first["date_modified"] == (START + timedelta(days=2)).isoformat()
    # A replay of the older revision changes nothing.
    result = publish(client, store, review("first", 1), base_url=BASE)
    assert result.written == [] and json.loads(store.get(JSON_FEED_KEY)) == feed


def test_publishing_the_same_review_again_writes_nothing(client, store):
    publish(client, store, review("once", 1), base_url=BASE)
    counting = CountingStore(store)
    again = publish(client, cast(Store, counting), review("once", 1), base_url=BASE)  # no copy: unused
    assert again.written == []
    assert counting.calls["put"] == 0


def test_a_withdrawn_review_leaves_the_index_and_feeds_and_its_place_stays_empty(client, store):
    for n, name in enumerate(["keep-one", "withdrawn", "keep-two"]):
        publish(client, store, review(name, n), base_url=BASE)
    first = withdraw(client, store, "withdrawn", base_url=BASE)
    assert first and first.seq == 2
    for key in (INDEX_KEY, JSON_FEED_KEY, ATOM_FEED_KEY, page_key(1)):
        assert listed(store, key) == {"keep-one", "keep-two"}, key
    again = withdraw(client, store, "withdrawn", base_url=BASE)
    assert again and again.written == []  # again: nothing more to do
    assert withdraw(client, store, "never-published", base_url=BASE) is None
    # Published again later, it is new: it takes the next place.
    assert publish(client, store, review("withdrawn", 9, revision=2), base_url=BASE).seq == 4
    assert listed(store, INDEX_KEY) == {"keep-one", "keep-two", "withdrawn"}
