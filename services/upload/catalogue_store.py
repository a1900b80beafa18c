"""The catalogue's state in Redis, and its objects in the publish store.

Redis keeps one small entry per review, and nothing that grows with the catalogue is
ever read whole::

    marquee:catalogue:count     the last ``seq`` given: how many reviews were ever published
    marquee:catalogue:version   bumped by every change to the catalogue
    marquee:catalogue:tag       the feed-id prefix, set at the first publication, never changed
    marquee:catalogue:seq       sorted set: slug → seq (its place in order of first publication)
    marquee:catalogue:entries   hash: slug → the latest revision's entry fields (JSON)
    marquee:catalogue:first     hash: slug → when it was first published (ISO 8601, UTC)

``publish`` records a review's entry, then regenerates the few objects it changes
(``catalogue.objects_for``) from a snapshot of the entries they show, and writes those
that differ. Two publications at once must not lose each other's entry, yet object
stores have no compare-and-set, so the version works as one: after writing, a
publication checks that the catalogue is still at the version it rendered; if another
publication changed it meanwhile, it renders and writes again. The last write of any
object is therefore made from a snapshot that includes every entry recorded before it
finished, and any entry recorded later belongs to a publication that writes afterwards.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import redis

from services.upload.catalogue import (
    LISTING_CACHE_CONTROL,
    RECENT,
    SHARE_IMAGE,
    Snapshot,
    entry_fields,
    make_entry,
    objects_for,
    page_bounds,
    page_of,
    pages_touched,
    tag_prefix,
)
from services.upload.publishing import needs_upload
from shared.errors import TransientError
from shared.keys import published_key, revision_key
from shared.models import Asset, Review
from shared.storage import ObjectInfo, Store

log = logging.getLogger("marquee.catalogue")

PREFIX = "marquee:catalogue"
KEYS = [f"{PREFIX}:{name}" for name in ("seq", "entries", "first", "count", "version", "tag")]
MAX_ROUNDS = 20

# KEYS: seq, entries, first, count, version, tag. ARGV: slug, revision, entry json, first published, tag,
# "1" if the entry may go back to an older revision (a rollback, made under the slug's lease) else "".
_RECORD = """
local slug = ARGV[1]
local changed = false
local seq = redis.call('ZSCORE', KEYS[1], slug)
-- New, or withdrawn and now published again: it takes the next place, as a new review does.
if (not seq) or redis.call('HEXISTS', KEYS[2], slug) == 0 then
  seq = redis.call('INCR', KEYS[4])
  redis.call('ZADD', KEYS[1], seq, slug)
  changed = true
end
redis.call('SET', KEYS[6], ARGV[5], 'NX')
local first = redis.call('HGET', KEYS[3], slug)
if (not first) or ARGV[4] < first then
  redis.call('HSET', KEYS[3], slug, ARGV[4])
  changed = true
end
local old = redis.call('HGET', KEYS[2], slug)
if old ~= ARGV[3] and ((not old) or ARGV[6] == '1' or tonumber(cjson.decode(old)['revision']) <= tonumber(ARGV[2])) then
  redis.call('HSET', KEYS[2], slug, ARGV[3])
  changed = true
end
if changed then redis.call('INCR', KEYS[5]) end
return tonumber(seq)
"""

# KEYS: as above. ARGV: slug. Its place stays taken (a page never reflows); its entry goes.
_REMOVE = """
local seq = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not seq then return false end
if redis.call('HDEL', KEYS[2], ARGV[1]) + redis.call('HDEL', KEYS[3], ARGV[1]) > 0 then
  redis.call('INCR', KEYS[5])
end
return tonumber(seq)
"""

# KEYS: as above. ARGV: how many of the newest entries, then first/last seq of each page wanted.
_READ = """
local slugs, seqs, seen = {}, {}, {}
local function take(found)
  for i = 1, #found, 2 do
    if not seen[found[i]] then
      seen[found[i]] = true
      table.insert(slugs, found[i])
      table.insert(seqs, found[i + 1])
    end
  end
end
take(redis.call('ZREVRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1, 'WITHSCORES'))
for i = 2, #ARGV, 2 do
  take(redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[i], ARGV[i + 1], 'WITHSCORES'))
end
local entries, firsts = {}, {}
if #slugs > 0 then
  entries = redis.call('HMGET', KEYS[2], unpack(slugs))
  firsts = redis.call('HMGET', KEYS[3], unpack(slugs))
end
return {redis.call('GET', KEYS[5]) or '0', redis.call('GET', KEYS[4]) or '0', redis.call('GET', KEYS[6]) or '',
        seqs, entries, firsts}
"""


class CatalogueBusy(TransientError):
    """Other publications kept changing the catalogue; the task retries with backoff."""


@dataclass(frozen=True)
class Published:
    seq: int
    rounds: int
    written: list[str]


class Catalogue:
    def __init__(self, client: redis.Redis):
        self.redis = client
        self._record = client.register_script(_RECORD)
        self._read = client.register_script(_READ)
        self._remove = client.register_script(_REMOVE)

    def record(self, fields: dict, *, published: datetime, tag: str, pipe=None, rollback: bool = False) -> int:
        """Add or update one review's entry; return its ``seq``. Idempotent; an older revision
        changes nothing, unless it is a ``rollback`` making that older revision live again."""
        first = published.astimezone(UTC).isoformat(timespec="microseconds")  # fixed width: compares as text
        entry = json.dumps(fields, ensure_ascii=False, sort_keys=True)
        args = [fields["slug"], fields["revision"], entry, first, tag, "1" if rollback else ""]
        result = self._record(keys=KEYS, args=args, client=pipe or self.redis)
        return result if pipe is not None else int(result)

    def remove(self, slug: str) -> int | None:
        """Take ``slug``'s entry out; return the ``seq`` it had (None if it was never listed)."""
        result = self._remove(keys=KEYS, args=[slug])
        return int(result) if result else None

    def version(self) -> int:
        return int(self.redis.get(KEYS[4]) or 0)

    def snapshot(self, pages: list[int]) -> Snapshot:
        bounds = [bound for number in pages for bound in page_bounds(number)]
        version, count, tag, seqs, entries, firsts = self._read(keys=KEYS, args=[RECENT, *bounds])
        by_seq = {}
        for seq, data, first in zip(seqs, entries, firsts, strict=True):
            if data and first:
                number = int(float(seq))
                by_seq[number] = make_entry(json.loads(data), seq=number, published=_text(first))
        return Snapshot(version=int(version), count=int(count), tag=_text(tag), entries=by_seq)


def _text(value: str | bytes) -> str:
    # The services' client decodes replies; a plain client returns bytes.
    return value.decode() if isinstance(value, bytes) else value


def share_image_key(review: Review, assets: list[Asset]) -> str | None:
    """The share image's stable key, if this revision has one."""
    if any(asset.key == revision_key(review.slug, review.revision, SHARE_IMAGE) for asset in assets):
        return published_key(review.slug, SHARE_IMAGE)
    return None


def publish(
    client: redis.Redis,
    store: Store,
    review: Review,
    *,
    base_url: str,
    image_key: str | None = None,
    now: datetime | None = None,
    rollback: bool = False,
) -> Published:
    """Put ``review`` in the catalogue, then write the index page, pages and feeds it changes."""
    catalogue = Catalogue(client)
    fields = entry_fields(review, image_key=image_key)
    seq = catalogue.record(
        fields,
        published=review.date_published,
        tag=tag_prefix(base_url, (now or datetime.now(UTC)).date()),
        rollback=rollback,
    )
    return _write(catalogue, store, seq=seq, pages=pages_touched(seq), base_url=base_url, slug=review.slug)


def withdraw(client: redis.Redis, store: Store, slug: str, *, base_url: str) -> Published | None:
    """Take ``slug`` out of the index and feeds; None if it was never in them."""
    catalogue = Catalogue(client)
    seq = catalogue.remove(slug)
    if seq is None:
        return None
    return _write(catalogue, store, seq=seq, pages=[page_of(seq)], base_url=base_url, slug=slug)


def _write(catalogue: Catalogue, store: Store, *, seq: int, pages: list[int], base_url: str, slug: str) -> Published:
    written: list[str] = []
    for round_ in range(1, MAX_ROUNDS + 1):
        snapshot = catalogue.snapshot(pages)
        for key, data, content_type in objects_for(snapshot, pages=pages, base_url=base_url):
            if needs_upload(ObjectInfo.of(data), store.head(key)):
                store.put(key, data, content_type=content_type, cache_control=LISTING_CACHE_CONTROL)
                written.append(key)
        # Unchanged since the snapshot: what was just written includes every entry so far.
        if catalogue.version() == snapshot.version:
            log.info(
                json.dumps(
                    {"event": "catalogue.written", "slug": slug, "seq": seq, "rounds": round_, "written": written}
                )
            )
            return Published(seq=seq, rounds=round_, written=written)
    raise CatalogueBusy(f"the catalogue changed during each of {MAX_ROUNDS} attempts to write it")


def add_to_catalogue(rt, review: Review, assets: list[Asset], *, rollback: bool = False) -> Published:
    """The upload task's one call, made after the review's manifest is written; the rollback
    task's too (``rollback``: the entry goes back to that older revision)."""
    return publish(
        rt.states.redis,
        rt.publish,
        review,
        base_url=rt.settings.public_base_url,
        image_key=share_image_key(review, assets),
        rollback=rollback,
    )


def remove_from_catalogue(rt, review: Review) -> Published | None:
    """For the retract task: the withdrawn review leaves the index and the feeds."""
    return withdraw(rt.states.redis, rt.publish, review.slug, base_url=rt.settings.public_base_url)
