"""Retention's decisions, with a clock the test passes in: which old revisions go, which stay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.upload.revisions import RevisionEntry, RevisionLog, adopted, to_remove, went_live, without

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(hours=24)
ID = "0" * 32


def published(count: int, *, every: timedelta) -> RevisionLog:
    """Revisions 1..count going live one after another, ``every`` apart from T0."""
    log = RevisionLog(slug="glasshouse-2025")
    for n in range(1, count + 1):
        log = went_live(log, revision=n, id=f"{n:032x}", at=T0 + (n - 1) * every)
    return log


def entry(log: RevisionLog, revision: int) -> RevisionEntry:
    found = log.entry(revision)
    assert found is not None, f"revision {revision} is not in the log"
    return found


def test_going_live_replaces_the_live_revision_from_that_moment():
    log = published(3, every=timedelta(hours=1))
    assert log.live == 3
    assert [(e.revision, e.replaced_at) for e in log.revisions] == [
        (1, T0 + timedelta(hours=1)),
        (2, T0 + timedelta(hours=2)),
        (3, None),
    ]


def test_the_switch_of_the_live_revision_again_changes_nothing():
    log = published(2, every=timedelta(hours=1))
    assert went_live(log, revision=2, id=f"{2:032x}", at=T0 + DAY) == log


def test_a_rollback_makes_an_old_revision_live_and_restarts_the_clock_of_the_one_it_replaces():
    log = went_live(published(3, every=timedelta(hours=1)), revision=1, id=f"{1:032x}", at=T0 + DAY)
    assert log.live == 1
    assert entry(log, 1).live_at == T0 + DAY and entry(log, 1).replaced_at is None
    assert entry(log, 3).replaced_at == T0 + DAY
    assert entry(log, 2).replaced_at == T0 + timedelta(hours=2)  # replaced earlier: its clock runs on


def test_the_newest_five_stay_however_old():
    log = published(5, every=DAY)
    assert to_remove(log, keep=5, min_age=DAY, now=T0 + 365 * DAY) == []


def test_past_the_newest_five_only_those_replaced_a_day_ago_or_more_go():
    log = published(8, every=timedelta(hours=10))  # revision n replaced at T0 + 10 h · n
    now = T0 + timedelta(hours=40)  # revisions 1-4 were replaced 30, 20, 10 and 0 h ago
    assert to_remove(log, keep=5, min_age=DAY, now=now) == [1]
    assert to_remove(log, keep=5, min_age=DAY, now=now + timedelta(hours=20)) == [1, 2, 3]
    # Everything replaced less than the minimum age ago stays, however few are kept.
    assert to_remove(log, keep=1, min_age=DAY, now=T0 + timedelta(hours=80)) == [1, 2, 3, 4, 5]


def test_the_live_revision_is_never_removed_even_when_old_and_not_among_the_newest():
    log = went_live(published(8, every=DAY), revision=1, id=f"{1:032x}", at=T0 + 8 * DAY)
    assert log.live == 1
    assert to_remove(log, keep=2, min_age=timedelta(0), now=T0 + 100 * DAY) == [2, 3, 4, 5, 6]


def test_a_revision_of_unknown_age_counts_from_when_it_is_found():
    log = RevisionLog(slug="glasshouse-2025", live=3, revisions=[RevisionEntry(revision=3, id=ID, live_at=T0)])
    found = adopted(log, {1: ID, 2: ID, 3: ID}, at=T0 + DAY)
    assert [(e.revision, e.replaced_at) for e in found.revisions] == [(1, T0 + DAY), (2, T0 + DAY), (3, None)]
    assert to_remove(found, keep=1, min_age=DAY, now=T0 + DAY + timedelta(hours=23)) == []
    assert to_remove(found, keep=1, min_age=DAY, now=T0 + 2 * DAY) == [1, 2]


def test_removed_revisions_are_remembered_so_a_rollback_can_say_why_it_is_refused():
    log = without(published(3, every=DAY), [1], at=T0 + 5 * DAY)
    assert [e.revision for e in log.revisions] == [2, 3]
    assert [(r.revision, r.removed_at) for r in log.removed] == [(1, T0 + 5 * DAY)]
    # Published again (a revision number never comes back in practice, but the log would say so).
    assert went_live(log, revision=1, id=ID, at=T0 + 6 * DAY).removed == []
