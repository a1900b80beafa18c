"""The catalogue's state in Redis, and its objects in the publish store.

Redis keeps one small entry per review, and nothing that grows with the catalogue is
ever read whole (the keys are listed in shared/catalogue.py)::

    marquee:catalogue:count     the last ``seq`` given: how many reviews were ever published
    marquee:catalogue:version   bumped by every change to the catalogue
    marquee:catalogue:tag       a site-wide feed-id prefix, kept only by sites that had one
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

After Redis lost its data, ``marquee reconcile`` restores the entries from the publish
store (shared/catalogue.py) and sends the ``rebuild`` task, which writes every page,
the index and the feeds again through the same loop (``rewrite``).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime

import redis

import shared.catalogue as catalogue_state
from services.upload.catalogue import (
    LISTING_CACHE_CONTROL,
    RECENT,
    Snapshot,
    entry_fields,
    make_entry,
    newest_page,
    objects_for,
    page_bounds,
    page_of,
    pages_touched,
)
from services.upload.publishing import needs_upload
from shared.catalogue import KEYS, first_text
from shared.errors import TransientError
from shared.models import Asset, Review
from shared.storage import ObjectInfo, Store

log = logging.getLogger("marquee.catalogue")

MAX_ROUNDS = 20
REWRITE_PAGES = 20  # pages a rewrite renders from one snapshot: 400 entries, and the newest 50
_PAGE = re.compile(r"^pages/([0-9]+)\.html$")

# KEYS: seq, entries, first, count, version, tag. ARGV: slug, revision, entry json, first published,
# "1" if the entry may go back to an older revision (a rollback, made under the slug's lease) else "".
# The tag is never set here: new sites' feed ids are derived from each review.
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
local first = redis.call('HGET', KEYS[3], slug)
if (not first) or ARGV[4] < first then
  redis.call('HSET', KEYS[3], slug, ARGV[4])
  changed = true
end
local old = redis.call('HGET', KEYS[2], slug)
if old ~= ARGV[3] and ((not old) or ARGV[5] == '1' or tonumber(cjson.decode(old)['revision']) <= tonumber(ARGV[2])) then
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

    def record(self, fields: dict, *, published: datetime, pipe=None, rollback: bool = False) -> int:
        """Add or update one review's entry; return its ``seq``. Idempotent; an older revision
        changes nothing, unless it is a ``rollback`` making that older revision live again."""
        first = first_text(published)  # fixed width: compares as text
        entry = json.dumps(fields, ensure_ascii=False, sort_keys=True)
        args = [fields["slug"], fields["revision"], entry, first, "1" if rollback else ""]
        result = self._record(keys=KEYS, args=args, client=pipe or self.redis)
        return result if pipe is not None else int(result)

    def remove(self, slug: str) -> int | None:
        """Take ``slug``'s entry out; return the ``seq`` it had (None if it was never listed)."""
        result = self._remove(keys=KEYS, args=[slug])
        return int(result) if result else None

    def version(self) -> int:
        return int(self.redis.get(KEYS[4]) or 0)

    def count(self) -> int:
        return int(self.redis.get(KEYS[3]) or 0)

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
    return catalogue_state.share_image_key(review.slug, review.revision, assets)


def publish(
    client: redis.Redis,
    store: Store,
    review: Review,
    *,
    base_url: str,
    image_key: str | None = None,
    rollback: bool = False,
) -> Published:
    """Put ``review`` in the catalogue, then write the index page, pages and feeds it changes."""
    catalogue = Catalogue(client)
    fields = entry_fields(review, image_key=image_key)
    seq = catalogue.record(fields, published=review.date_published, rollback=rollback)
    return _write(catalogue, store, seq=seq, pages=pages_touched(seq), base_url=base_url, slug=review.slug)


def rewrite(client: redis.Redis, store: Store, *, base_url: str) -> Published:
    """Write every page, the index and both feeds from the catalogue's state, then remove
    pages past the newest: after a restore renumbered the catalogue, every page may have
    changed. For recovery only: it reads the whole catalogue, and each round renders it all."""
    catalogue = Catalogue(client)
    pages = list(range(1, newest_page(catalogue.count()) + 1))
    written: list[str] = []
    rounds = 0
    # A few pages at a time: each snapshot stays small (the read script passes its slugs to
    # one HMGET, and Lua unpacks only so many), and each is still checked against the version.
    for start in range(0, len(pages), REWRITE_PAGES):
        done = _write(catalogue, store, seq=0, pages=pages[start : start + REWRITE_PAGES], base_url=base_url, slug="")
        written += done.written
        rounds += done.rounds
    # Past the newest page now (the restore closed up withdrawals' places): nothing links there.
    newest = newest_page(catalogue.count())
    for key in store.list("pages"):
        if (match := _PAGE.match(key)) and int(match.group(1)) > newest:
            store.delete(key)
    return Published(seq=0, rounds=rounds, written=written)


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
