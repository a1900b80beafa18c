"""The catalogue's state in Redis, what one entry holds, its feed ids, and its restoration.

The upload service keeps the catalogue (services/upload/catalogue_store.py) and renders
it (services/upload/catalogue.py). What is here is what ``marquee reconcile`` needs too,
after Redis lost its data: everything the index and feeds show can be recovered from the
publish store alone, from each live manifest and its revision's ``review.json``.

Redis keys (see catalogue_store.py for how a publication uses them)::

    marquee:catalogue:seq       sorted set: slug → seq, its place in order of first publication
    marquee:catalogue:entries   hash: slug → the latest revision's entry fields (JSON)
    marquee:catalogue:first     hash: slug → when it was first published (ISO 8601, UTC)
    marquee:catalogue:count     the last seq given
    marquee:catalogue:version   bumped by every change: the publications' compare-and-set
    marquee:catalogue:tag       a site-wide feed-id prefix, kept only by sites that had one

A feed item's id is ``tag:<public host>,<date>:reviews/<slug>``, the date being the day
(UTC) the review was first published: the review's own ``date_published``, which its
manifest and review.json carry, so the id is the same after Redis is rebuilt. Sites that
published before ids were derived so used one date for every item, the day of the site's
first publication, kept in ``:tag``; they keep it, and a lost ``:tag`` is recovered from
the published JSON Feed (``recover_tag``), so no id a reader has seen changes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlparse

import redis

from shared.errors import ObjectNotFound
from shared.keys import MANIFEST, published_key, revision_key
from shared.models import Asset, Manifest
from shared.site.formatting import clean, shorten
from shared.site.look import JSON_FEED_KEY
from shared.storage import LocalStore, Store

PREFIX = "marquee:catalogue"
KEYS = [f"{PREFIX}:{name}" for name in ("seq", "entries", "first", "count", "version", "tag")]

SUMMARY_LIMIT = 280  # characters of the first paragraph an entry keeps: entries stay small
SHARE_IMAGE = "instagram/card.jpg"  # a review's share image, made by the social stage

_LIVE_MANIFEST = re.compile(r"^reviews/([a-z0-9-]+)/" + re.escape(MANIFEST) + "$")


def tag_prefix(base_url: str, day: date) -> str:
    """``tag:reviews.example,2026-03-01:``: the public host and a day it was ours."""
    host = urlparse(base_url).hostname or "marquee.invalid"
    return f"tag:{host},{day.isoformat()}:"


def item_id(prefix: str, slug: str) -> str:
    return f"{prefix}reviews/{slug}"


def review_item_id(tag: str, slug: str, published: datetime, *, base_url: str) -> str:
    """A feed item's id: with the site's old prefix if it keeps one, else from the review's first publication."""
    return item_id(tag or tag_prefix(base_url, published.astimezone(UTC).date()), slug)


def first_text(published: datetime) -> str:
    """A first-publication time as the catalogue keeps it: UTC, fixed width, so it compares as text."""
    return published.astimezone(UTC).isoformat(timespec="microseconds")


def entry_fields(
    *,
    slug: str,
    revision: int,
    title: str,
    year: int | None,
    rating: float,
    certificate: str,
    author: str,
    paragraphs: list[str],
    updated: str,
    image_key: str | None,
) -> dict[str, Any]:
    """What an entry holds of one revision (``seq`` and the first publication come once)."""
    return {
        "slug": slug,
        "revision": revision,
        "title": clean(title),
        "year": year,
        "rating": rating,
        "certificate": clean(certificate),
        "author": clean(author),
        "summary": clean(shorten(paragraphs[0] if paragraphs else "", SUMMARY_LIMIT)),
        "updated": updated,
        "image": image_key,
    }


def public_entry_fields(data: Mapping[str, Any], *, image_key: str | None) -> dict[str, Any]:
    """The same fields from a published ``review.json`` (render's ``public_review``)."""
    return entry_fields(
        slug=data["slug"],
        revision=int(data["revision"]),
        title=data["title"],
        year=data.get("year"),
        rating=float(data["rating"]),
        certificate=data["certificate"],
        author=data["author"],
        paragraphs=list(data.get("paragraphs") or []),
        updated=data.get("date_modified") or data["date_published"],
        image_key=image_key,
    )


def share_image_key(slug: str, revision: int, assets: Iterable[Asset]) -> str | None:
    """The share image's stable key, if this revision has one."""
    if any(asset.key == revision_key(slug, revision, SHARE_IMAGE) for asset in assets):
        return published_key(slug, SHARE_IMAGE)
    return None


# --- restoration, after Redis lost its data ------------------------------------------------


def live_slugs(store: Store) -> list[str]:
    """Every slug with a live manifest (``reviews/<slug>/manifest.json``): one listing, for recovery."""
    keys: Iterable[str]
    if isinstance(store, LocalStore):  # a directory: no need to visit every revision's files
        keys = (str(p.relative_to(store.root)) for p in (store.root / "reviews").glob(f"*/{MANIFEST}"))
    else:
        keys = store.list("reviews")
    return sorted({m.group(1) for key in keys if (m := _LIVE_MANIFEST.match(key))})


def read_manifest(store: Store, slug: str) -> Manifest | None:
    try:
        return Manifest.model_validate_json(store.get(published_key(slug, MANIFEST)))
    except ObjectNotFound:
        return None  # withdrawn since it was listed


def unlisted(client: redis.Redis, slugs: list[str]) -> list[str]:
    """The slugs the catalogue has no entry for."""
    if not slugs:
        return []
    with client.pipeline(transaction=False) as pipe:
        for slug in slugs:
            pipe.hexists(KEYS[1], slug)
        return [slug for slug, known in zip(slugs, pipe.execute(), strict=True) if not known]


def entry_from_store(store: Store, manifest: Manifest) -> tuple[dict[str, Any], str]:
    """(entry fields, first publication) of a live revision, from its own ``review.json``."""
    own = revision_key(manifest.slug, manifest.revision, "review.json")
    key = own if any(asset.key == own for asset in manifest.assets) else published_key(manifest.slug, "review.json")
    data = json.loads(store.get(key))
    image = share_image_key(manifest.slug, manifest.revision, manifest.assets)
    return public_entry_fields(data, image_key=image), first_text(manifest.published_at)


def recover_tag(store: Store, *, base_url: str) -> str:
    """The site-wide feed-id prefix the published JSON Feed used, if it used one; else "".

    An item whose id is the one derived from its own first publication says nothing (the
    two schemes agree on it); the others must share one prefix, which is the site's."""
    try:
        feed = json.loads(store.get(JSON_FEED_KEY))
    except (ObjectNotFound, ValueError):
        return ""
    prefixes = set()
    for item in feed.get("items") or []:
        slug = (item.get("_marquee") or {}).get("slug")
        id, published = item.get("id"), item.get("date_published")
        if not (isinstance(slug, str) and isinstance(id, str) and isinstance(published, str)):
            continue
        try:
            derived = review_item_id("", slug, datetime.fromisoformat(published), base_url=base_url)
        except ValueError:
            continue
        suffix = item_id("", slug)
        if id != derived and id.endswith(suffix):
            prefixes.add(id.removesuffix(suffix))
    return prefixes.pop() if len(prefixes) == 1 else ""


# KEYS: seq, entries, first, count, version, tag. ARGV: tag ("" for none), then slug, entry
# json, first published, for each entry restored. What Redis holds is merged with them (a
# later revision wins, the earliest first publication wins), and every entry is given its
# place again in order of first publication: a recovery renumbers the pages (empty places
# left by withdrawals close up), and the version moves on, so a publication in flight
# renders again. Redis's entries stay: a publication since the loss is not lost.
_RESTORE = """
local entries, firsts = {}, {}
local held = redis.call('HGETALL', KEYS[2])
for i = 1, #held, 2 do entries[held[i]] = held[i + 1] end
held = redis.call('HGETALL', KEYS[3])
for i = 1, #held, 2 do firsts[held[i]] = held[i + 1] end
for i = 2, #ARGV, 3 do
  local slug, entry, first = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local old = entries[slug]
  if (not old) or tonumber(cjson.decode(old)['revision']) < tonumber(cjson.decode(entry)['revision']) then
    entries[slug] = entry
  end
  if (not firsts[slug]) or first < firsts[slug] then firsts[slug] = first end
end
local order = {}
for slug in pairs(entries) do
  if firsts[slug] then table.insert(order, slug) end
end
table.sort(order, function(a, b)
  if firsts[a] ~= firsts[b] then return firsts[a] < firsts[b] end
  return a < b
end)
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
for i, slug in ipairs(order) do
  redis.call('ZADD', KEYS[1], i, slug)
  redis.call('HSET', KEYS[2], slug, entries[slug])
  redis.call('HSET', KEYS[3], slug, firsts[slug])
end
redis.call('SET', KEYS[4], #order)
redis.call('INCR', KEYS[5])
if ARGV[1] ~= '' then redis.call('SET', KEYS[6], ARGV[1], 'NX') end
return #order
"""


@dataclass(frozen=True)
class Restored:
    entries: list[str]  # slugs whose entries were restored
    skipped: list[str]  # slugs whose review.json could not be read: left out, and said so
    tag: str  # the site-wide prefix recovered ("" when ids are derived)
    count: int  # entries in the catalogue afterwards


def restore(client: redis.Redis, store: Store, manifests: Iterable[Manifest], *, base_url: str) -> Restored:
    """Put the entries of these live revisions back in the catalogue, with the site's
    feed-id prefix if it had one; every page must then be written again (the upload
    queue's ``rebuild`` task does it)."""
    args: list[str] = []
    slugs, skipped = [], []
    for manifest in manifests:
        try:
            fields, first = entry_from_store(store, manifest)
        except (ObjectNotFound, ValueError, KeyError, TypeError):
            # Withdrawn meanwhile, or not what render writes: one review does not stop the rest.
            skipped.append(manifest.slug)
            continue
        args += [manifest.slug, json.dumps(fields, ensure_ascii=False, sort_keys=True), first]
        slugs.append(manifest.slug)
    tag = "" if client.exists(KEYS[5]) else recover_tag(store, base_url=base_url)
    count = client.register_script(_RESTORE)(keys=KEYS, args=[tag, *args])
    return Restored(entries=slugs, skipped=skipped, tag=tag, count=int(count))
