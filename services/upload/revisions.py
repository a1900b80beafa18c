"""A review's kept revisions: when each went live, which to remove, which may be live again.

Each revision's own copies stay under ``reviews/<slug>/r/<n>/`` after another replaces
it, so that a consumer holding its manifest can finish reading. They are removed once
they are neither among the newest ``retention_keep`` nor live within ``retention_min_age``;
the live revision always stays. Ages come from the slug's revision log,
``reviews/<slug>/revisions.json``, which upload and rollback rewrite under the slug's
lease after each switch::

    {"slug": "…", "live": 3,
     "revisions": [{"revision": 1, "id": "…", "live_at": "…", "replaced_at": "…"}, …],
     "removed": [{"revision": 0, "id": "…", "removed_at": "…"}]}

The decisions are pure functions of the log and a clock; the few store calls are below
them. The ``marquee`` command reads the same functions to list revisions and to refuse a
rollback before sending it.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from services.upload.publishing import MANIFEST_CACHE_CONTROL
from shared.errors import MarqueeError, ObjectNotFound
from shared.keys import MANIFEST, published_key, retracted_key, revision_key
from shared.models import Manifest, State
from shared.storage import Store

if TYPE_CHECKING:
    from shared.pipeline import Runtime

log = logging.getLogger("marquee.revisions")

REVISION_LOG = "revisions.json"
_KEPT_MANIFEST = re.compile(r"/r/(\d+)/manifest\.json$")


class RevisionEntry(BaseModel):
    revision: int
    id: str  # the submission that made it
    live_at: datetime  # the last time it went live (a rollback makes it live again)
    replaced_at: datetime | None = None  # the last time another revision replaced it; None while live


class RemovedRevision(BaseModel):
    revision: int
    id: str
    removed_at: datetime


class RevisionLog(BaseModel):
    slug: str
    live: int = 0
    revisions: list[RevisionEntry] = Field(default_factory=list)
    # Kept so that a rollback to one of them is refused with the reason, not "no such revision".
    removed: list[RemovedRevision] = Field(default_factory=list)

    def entry(self, revision: int) -> RevisionEntry | None:
        return next((e for e in self.revisions if e.revision == revision), None)


# --- pure decisions ---------------------------------------------------------------------------


def went_live(log: RevisionLog, *, revision: int, id: str, at: datetime) -> RevisionLog:
    """The log once ``revision`` has become live at ``at``: every other revision is replaced
    (from ``at``, if it was not already). A replay of the live revision's switch changes nothing."""
    current = log.entry(revision)
    if log.live == revision and current is not None and current.replaced_at is None:
        return log
    entries = [
        e if e.replaced_at is not None else e.model_copy(update={"replaced_at": at})
        for e in log.revisions
        if e.revision != revision
    ]
    entries.append(RevisionEntry(revision=revision, id=id, live_at=at))
    return log.model_copy(
        update={
            "live": revision,
            "revisions": sorted(entries, key=lambda e: e.revision),
            "removed": [r for r in log.removed if r.revision != revision],
        }
    )


def adopted(log: RevisionLog, found: dict[int, str], *, at: datetime) -> RevisionLog:
    """The log with revisions the store keeps but the log does not know (published before the
    log was kept, or after a lost write) added, as replaced at ``at``: their age is unknown,
    so it counts from now, and they outlive the minimum age like any other."""
    unknown = [n for n in found if log.entry(n) is None and n != log.live]
    if not unknown:
        return log
    added = [RevisionEntry(revision=n, id=found[n], live_at=at, replaced_at=at) for n in unknown]
    return log.model_copy(update={"revisions": sorted([*log.revisions, *added], key=lambda e: e.revision)})


def to_remove(log: RevisionLog, *, keep: int, min_age: timedelta, now: datetime) -> list[int]:
    """Revisions past the newest ``keep`` that were last live ``min_age`` or more ago. Never
    the live one, nor one whose replacement time is unknown."""
    newest = set(sorted((e.revision for e in log.revisions), reverse=True)[:keep])
    return [
        e.revision
        for e in log.revisions
        if e.revision != log.live
        and e.revision not in newest
        and e.replaced_at is not None
        and now - e.replaced_at >= min_age
    ]


def without(log: RevisionLog, revisions: list[int], *, at: datetime) -> RevisionLog:
    """The log once ``revisions`` are removed from the store."""
    gone = [
        RemovedRevision(revision=e.revision, id=e.id, removed_at=at) for e in log.revisions if e.revision in revisions
    ]
    return log.model_copy(
        update={
            "revisions": [e for e in log.revisions if e.revision not in revisions],
            "removed": sorted([*log.removed, *gone], key=lambda r: r.revision),
        }
    )


# --- the store ----------------------------------------------------------------------------------


def read_log(publish: Store, slug: str) -> RevisionLog:
    try:
        return RevisionLog.model_validate_json(publish.get(published_key(slug, REVISION_LOG)))
    except ObjectNotFound:
        return RevisionLog(slug=slug)


def write_log(publish: Store, log: RevisionLog) -> None:
    publish.put(
        published_key(log.slug, REVISION_LOG),
        log.model_dump_json(indent=2).encode(),
        content_type="application/json",
        cache_control=MANIFEST_CACHE_CONTROL,  # changes with every switch, like the manifest
    )


def kept_revisions(publish: Store, slug: str) -> list[int]:
    """The revisions whose own manifest is in the store: those a rollback can make live."""
    found = (_KEPT_MANIFEST.search(key) for key in publish.list(published_key(slug, "r/")))
    return sorted(int(m.group(1)) for m in found if m)


def read_manifest(publish: Store, key: str) -> Manifest | None:
    try:
        return Manifest.model_validate_json(publish.get(key))
    except ObjectNotFound:
        return None


def record_live(publish: Store, slug: str, *, revision: int, id: str, now: datetime | None = None) -> RevisionLog:
    """Record in the slug's log that ``revision`` has just gone live; called under the lease."""
    now = now or datetime.now(UTC)
    before = read_log(publish, slug)
    found = {}
    for n in kept_revisions(publish, slug):
        if before.entry(n) is None and n != revision:
            manifest = read_manifest(publish, revision_key(slug, n, MANIFEST))
            if manifest is not None:
                found[n] = manifest.id
    after = went_live(adopted(before, found, at=now), revision=revision, id=id, at=now)
    if after != before:
        write_log(publish, after)
    return after


def remove_revision(publish: Store, slug: str, revision: int) -> int:
    """Delete a revision's own copies, its manifest first: a manifest never names a missing
    asset, and a half-removed revision already reads as removed. The number deleted."""
    manifest = revision_key(slug, revision, MANIFEST)
    keys = [key for key in publish.list(revision_key(slug, revision, "")) if key != manifest]
    publish.delete(manifest)
    for key in keys:
        publish.delete(key)
    return len(keys) + 1


def prune(publish: Store, log: RevisionLog, *, keep: int, min_age: timedelta, now: datetime | None = None) -> list[int]:
    """Remove what retention no longer keeps, then record it in the log; the revisions removed.

    A removal cut short leaves the log naming the revision, so the next prune finishes it."""
    now = now or datetime.now(UTC)
    doomed = to_remove(log, keep=keep, min_age=min_age, now=now)
    for revision in doomed:
        remove_revision(publish, log.slug, revision)
    if doomed:
        write_log(publish, without(log, doomed, at=now))
    return doomed


def keep_revisions(rt: Runtime, slug: str, *, revision: int, id: str, now: datetime | None = None) -> list[int]:
    """After upload's switch, under the lease: record the revision as live, then apply
    retention. Removing old copies is housekeeping: if the store refuses, the publication
    stands and the next one at this slug removes them."""
    now = now or datetime.now(UTC)
    current = record_live(rt.publish, slug, revision=revision, id=id, now=now)
    settings = rt.settings
    try:
        removed = prune(
            rt.publish,
            current,
            keep=settings.retention_keep,
            min_age=timedelta(seconds=settings.retention_min_age),
            now=now,
        )
    except MarqueeError as exc:
        log.warning(json.dumps({"event": "retention.failed", "slug": slug, "error": str(exc)}))
        return []
    if removed:
        log.info(json.dumps({"event": "retention.removed", "slug": slug, "revisions": removed}))
    return removed


# --- rollback's checks ----------------------------------------------------------------------------


class RollbackRefused(MarqueeError):
    """The rollback asked for cannot be made; the message says why."""


@dataclass(frozen=True)
class RollbackPlan:
    slug: str
    revision: int
    target: Manifest  # the revision's own manifest, to become the live one
    target_bytes: bytes  # ...byte for byte
    live: Manifest  # the live manifest as the checks found it


def withdrawn(rt: Runtime, submission_id: str) -> bool:
    """Withdrawn by its writer: its state says so, or the archive's marker does."""
    if rt.states.state_of(submission_id) == State.RETRACTED:
        return True
    return rt.archive.head(retracted_key(submission_id)) is not None


def plan_rollback(
    rt: Runtime, slug: str, revision: int | None = None, *, live_expected: int | None = None
) -> RollbackPlan:
    """Check that ``slug`` can be rolled back to ``revision`` (default: the kept revision
    just before the live one), or raise ``RollbackRefused`` saying why.

    The command checks with ``live_expected`` None: the revision must not be the live one.
    The task checks again under the lease with the live revision the command saw: if it
    has changed since (a new upload landed), the rollback is refused rather than undoing
    it; if it is already ``revision``, this very rollback switched and is being redelivered.
    """
    live = read_manifest(rt.publish, published_key(slug, MANIFEST))
    if live is None:
        raise RollbackRefused(f"nothing is live at {slug}: it was never published, or its writer withdrew it")
    kept = kept_revisions(rt.publish, slug)
    if revision is None:
        earlier = [n for n in kept if n < live.revision]
        if not earlier:
            raise RollbackRefused(f"{slug} keeps no revision before the live one ({live.revision})")
        revision = max(earlier)
    if live_expected is None:
        if revision == live.revision:
            raise RollbackRefused(f"revision {revision} is already the live one at {slug}")
    elif live.revision not in (live_expected, revision):
        raise RollbackRefused(
            f"the live revision at {slug} is now {live.revision}, not {live_expected} as when the rollback was asked"
        )
    try:
        data = rt.publish.get(revision_key(slug, revision, MANIFEST))
    except ObjectNotFound:
        raise RollbackRefused(_why_missing(rt, slug, revision, kept)) from None
    target = Manifest.model_validate_json(data)
    if withdrawn(rt, target.id):
        raise RollbackRefused(f"revision {revision} at {slug} (submission {target.id}) was withdrawn by its writer")
    for asset in target.assets:
        info = rt.publish.head(asset.key)
        if info is None or (info.sha256 is not None and info.sha256 != asset.sha256):
            raise RollbackRefused(f"revision {revision} at {slug} is incomplete: {asset.key} is missing or changed")
    return RollbackPlan(slug=slug, revision=revision, target=target, target_bytes=data, live=live)


def _why_missing(rt: Runtime, slug: str, revision: int, kept: list[int]) -> str:
    gone = next((r for r in read_log(rt.publish, slug).removed if r.revision == revision), None)
    if gone is not None:
        hours = rt.settings.retention_min_age / 3600
        return (
            f"revision {revision} at {slug} was removed on {gone.removed_at:%Y-%m-%d %H:%M} UTC: retention keeps "
            f"the newest {rt.settings.retention_keep} revisions and any live in the last {hours:g} h"
        )
    listed = ", ".join(map(str, kept)) or "none"
    return f"{slug} has no revision {revision} (kept: {listed})"
