"""The catalogue rebuilt from a publish store of manifests alone, over a real redis-server.

Reviews are published as upload publishes them (each revision's review.json and manifest,
the live manifest, then the catalogue); Redis then loses everything; the restore
(shared/catalogue.py) and the rewrite (the rebuild task's work) must give back the same
index, pages and feeds, with the same feed ids.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
import redis

from services.render.article import public_review
from services.upload.catalogue import ATOM_FEED_KEY, INDEX_KEY, JSON_FEED_KEY, PAGE_SIZE, page_key, tag_prefix
from services.upload.catalogue_store import add_to_catalogue, rewrite, withdraw
from services.upload.publishing import build_manifest, describe_asset
from shared import catalogue
from shared.keys import MANIFEST, published_key, revision_key
from shared.models import Manifest, Review
from shared.storage import LocalStore, ObjectInfo

BASE = "https://reviews.example/site"
START = datetime(2026, 3, 1, 21, 30, tzinfo=UTC)


@pytest.fixture
def client(own_redis_server):
    client = redis.Redis.from_url(own_redis_server.url, decode_responses=True)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def store(tmp_path):
    return LocalStore(tmp_path / "publish", str(tmp_path / "publish"))


class Rt:
    """What add_to_catalogue uses of the runtime."""

    def __init__(self, client, store):
        self.publish = store
        self.states = type("States", (), {"redis": client})()
        self.settings = type("Settings", (), {"public_base_url": BASE})()


def review(n: int, **changes) -> Review:
    base: dict[str, Any] = {
        "id": f"{n:032x}",
        "writer": "alice",
        "slug": f"film-{n}",
        "revision": 1,
        "title": f"Film {n}",
        "year": 2000 + n,
        "certificate": "15",
        "runtime_minutes": 100,
        "directors": ["D"],
        "cast": [],
        "rating": (n % 10) / 2,
        "paragraphs": [f"The first paragraph of review {n}, long enough to be a summary."],
        "author": f"Critic {n}",
        "note": None,
        # Hours apart: some reviews first published on one day (UTC), some on the next.
        "date_published": START + timedelta(hours=n),
    }
    return Review(**(base | changes))


def publish(client, store, r: Review, *, card: bool = True) -> None:
    """As upload does: the revision's own copies and manifest, the live manifest, then the catalogue."""
    outputs = {"review.json": json.dumps(public_review(r, article_url="x")).encode()}
    if card:
        outputs["instagram/card.jpg"] = b"\xff\xd8jpeg"
    assets = []
    for name, data in outputs.items():
        asset = describe_asset(name, ObjectInfo.of(data), slug=r.slug, revision=r.revision, base_url=BASE)
        store.put(asset.key, data, content_type=asset.content_type)
        assets.append(asset)
    manifest = build_manifest(r, assets).model_dump_json().encode()
    store.put(revision_key(r.slug, r.revision, MANIFEST), manifest, content_type="application/json")
    store.put(published_key(r.slug, MANIFEST), manifest, content_type="application/json")
    add_to_catalogue(Rt(client, store), r, assets)


def restore_all(client, store) -> catalogue.Restored:
    """What reconcile does after the loss, then what the rebuild task does."""
    slugs = catalogue.unlisted(client, catalogue.live_slugs(store))
    manifests = [m for slug in slugs if (m := catalogue.read_manifest(store, slug))]
    restored = catalogue.restore(client, store, manifests, base_url=BASE)
    rewrite(client, store, base_url=BASE)
    return restored


def site(store) -> dict[str, bytes]:
    keys = [INDEX_KEY, JSON_FEED_KEY, ATOM_FEED_KEY, *store.list("pages")]
    return {key: store.get(key) for key in keys}


def feed_ids(store) -> dict[str, str]:
    return {item["_marquee"]["slug"]: item["id"] for item in json.loads(store.get(JSON_FEED_KEY))["items"]}


def test_the_same_site_comes_back_from_the_manifests_alone(client, store):
    for n in range(1, PAGE_SIZE + 6):  # two pages
        publish(client, store, review(n), card=n % 3 != 0)
    publish(client, store, review(2, id=f"{99:032x}", revision=2, rating=5, date_modified=START + timedelta(days=9)))
    before = site(store)

    client.flushdb()
    assert catalogue.live_slugs(store) == sorted(f"film-{n}" for n in range(1, PAGE_SIZE + 6))
    restored = restore_all(client, store)
    assert restored.count == PAGE_SIZE + 5 and restored.tag == ""
    assert site(store) == before  # byte for byte: entries, places, ids, the revised one's fields

    # Derived from each review's own first publication: a day that differs between reviews.
    ids = feed_ids(store)
    assert ids["film-1"] == "tag:reviews.example,2026-03-01:reviews/film-1"
    assert ids["film-3"] == "tag:reviews.example,2026-03-02:reviews/film-3"

    publish(client, store, review(40))
    after = feed_ids(store)
    assert {slug: after[slug] for slug in ids if slug in after} == {s: ids[s] for s in ids if s in after}
    assert "film-40" in after and "film-40" in store.get(INDEX_KEY).decode()


def test_a_site_that_kept_one_prefix_for_every_id_keeps_it_when_redis_forgets_it(client, store):
    legacy = tag_prefix(BASE, START.date() - timedelta(days=400))  # the old scheme: the site's first day
    client.set(catalogue.KEYS[5], legacy)
    for n in range(1, 4):
        publish(client, store, review(n))
    before = feed_ids(store)
    assert before["film-2"] == f"{legacy}reviews/film-2"
    atom_before = store.get(ATOM_FEED_KEY)

    client.flushdb()
    assert catalogue.recover_tag(store, base_url=BASE) == legacy
    assert restore_all(client, store).tag == legacy
    assert feed_ids(store) == before and store.get(ATOM_FEED_KEY) == atom_before
    publish(client, store, review(4))
    assert feed_ids(store)["film-4"] == f"{legacy}reviews/film-4"  # a new review too, as before


def test_recover_tag_finds_nothing_in_a_feed_of_derived_ids_or_no_feed(client, store):
    assert catalogue.recover_tag(store, base_url=BASE) == ""
    publish(client, store, review(1))
    assert catalogue.recover_tag(store, base_url=BASE) == ""


def test_withdrawn_places_close_up_and_pages_past_the_newest_go(client, store):
    for n in range(1, PAGE_SIZE + 2):  # 21: page 2 holds one
        publish(client, store, review(n))
    for n in (5, 6):
        withdraw(client, store, f"film-{n}", base_url=BASE)
        store.delete(published_key(f"film-{n}", MANIFEST))
    assert page_key(2) in store.list("pages")

    client.flushdb()
    assert restore_all(client, store).count == PAGE_SIZE - 1
    assert store.list("pages") == [page_key(1)]
    index = store.get(INDEX_KEY).decode()
    assert "film-5/" not in index and "film-21/" in index and "19 reviews published" in index


def test_a_publication_since_the_loss_keeps_its_entry_and_takes_its_place_by_date(client, store):
    for n in range(1, 4):
        publish(client, store, review(n))
    client.flushdb()
    publish(client, store, review(9))  # before reconcile: the feed now lists it alone
    assert list(feed_ids(store)) == ["film-9"]

    restore_all(client, store)
    assert list(feed_ids(store)) == ["film-9", "film-3", "film-2", "film-1"]  # newest first, all four
    assert client.zscore(catalogue.KEYS[0], "film-1") == 1


def test_a_restore_never_puts_back_an_older_revision_than_redis_holds(client, store):
    publish(client, store, review(1))
    client.flushdb()
    publish(client, store, review(1, id=f"{7:032x}", revision=2, rating=0.5))
    # The first revision's own manifest, as a listing made before the second went out saw it.
    stale = Manifest.model_validate_json(store.get(revision_key("film-1", 1, MANIFEST)))
    catalogue.restore(client, store, [stale], base_url=BASE)
    assert json.loads(cast(str, client.hget(catalogue.KEYS[1], "film-1")))["revision"] == 2
