"""Rollback and retention, with the upload queue's tasks run in-process against a real
redis-server and real local stores (tests/support/upload_world.py).

Interleavings are forced as in test_slug_lease.py: a task held at the lease's door, or at
its switch, until the test lets it go.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest
import redis

from services.upload import retract as retract_module
from services.upload import rollback as rollback_module
from services.upload import upload as upload_module
from services.upload.revisions import (
    RevisionEntry,
    RevisionLog,
    RollbackRefused,
    plan_rollback,
    prune,
    read_log,
)
from shared.envelope import from_stream
from shared.keys import MANIFEST, published_key, revision_key
from shared.state import EVENTS_STREAM
from tests.support.event_contract import violations
from tests.support.processes import read_stream
from tests.support.upload_world import HELD_SECONDS, SLUG, HeldDoor, HeldPut, World, finish


@pytest.fixture
def client(redis_server):
    connection = redis.Redis.from_url(redis_server.url.replace("/0", "/13"), decode_responses=True)
    connection.flushdb()
    yield connection
    connection.flushdb()


@pytest.fixture
def world(client, tmp_path, monkeypatch) -> World:
    return World(client, tmp_path, monkeypatch)


def stable_hashes(world: World) -> dict[str, str]:
    base = world.root / "reviews" / SLUG
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in base.iterdir() if p.is_file()}


def entry(log: RevisionLog, revision: int) -> RevisionEntry:
    found = log.entry(revision)
    assert found is not None, f"revision {revision} is not in the log"
    return found


def kept_files(world: World) -> set[int]:
    """The revisions that have any file left under reviews/<slug>/r/."""
    return {
        int(p.relative_to(world.root / "reviews" / SLUG / "r").parts[0])
        for p in (world.root / "reviews" / SLUG / "r").rglob("*")
        if p.is_file()
    }


def history(client: redis.Redis, id: str) -> list[dict]:
    return [json.loads(h) for h in client.lrange(f"marquee:sub:{id}:history", 0, -1)]


def rolled_back_events(client: redis.Redis) -> list[dict]:
    return [
        from_stream(fields)
        for _, fields in read_stream(client, EVENTS_STREAM)
        if fields["type"] == "review.rolled_back"
    ]


def test_a_rollback_switches_to_the_revisions_own_manifest_and_files(world, client):
    first, _, third = world.publish_revisions(3)
    world.run(rollback_module.rollback, SLUG, 1, 3)

    live_bytes = (world.root / published_key(SLUG, MANIFEST)).read_bytes()
    assert live_bytes == (world.root / revision_key(SLUG, 1, MANIFEST)).read_bytes()
    live = world.live()
    assert (live.revision, live.id) == (1, first)
    stable = stable_hashes(world)
    for asset in live.assets:  # the stable files are revision 1's again
        name = asset.key.rsplit("/", 1)[1]
        assert stable[name] == asset.sha256 == hashlib.sha256((world.root / asset.key).read_bytes()).hexdigest()
    # The index and feeds show revision 1.
    feed = json.loads((world.root / "feeds/reviews.json").read_text())
    assert [item["_marquee"]["revision"] for item in feed["items"] if item["_marquee"]["slug"] == SLUG] == [1]
    # Recorded: the log, both histories (states unchanged), one event naming the revision.
    log = read_log(world.publish, SLUG)
    assert log.live == 1 and entry(log, 3).replaced_at == entry(log, 1).live_at
    notes = [h for h in history(client, first) if h["stage"] == "rollback"]
    assert [n["note"] for n in notes] == ["live again: rolled back from revision 3"]
    assert [h["note"] for h in history(client, third) if h["stage"] == "rollback"] == [
        "replaced: rolled back to revision 1"
    ]
    [event] = rolled_back_events(client)
    assert event["type"] == "review.rolled_back" and event["schema_version"] == 1
    assert event["data"] == {
        "id": first,
        "writer": "alice",
        "slug": SLUG,
        "revision": 1,
        "from_revision": 3,
        "manifest_url": f"https://reviews.example/reviews/{SLUG}/r/1/manifest.json",  # the revision's own
        "article_url": f"https://reviews.example/reviews/{SLUG}/index.html",
    }
    assert violations(event) == []  # as docs/schemas/review.rolled_back.json says


def test_a_rollback_delivered_twice_switches_notes_and_announces_once(world, client):
    first, _, _ = world.publish_revisions(3)
    world.run(rollback_module.rollback, SLUG, 1, 3)
    before = read_log(world.publish, SLUG)
    world.run(rollback_module.rollback, SLUG, 1, 3)  # as after a worker lost mid-task
    assert world.live().revision == 1 and read_log(world.publish, SLUG) == before
    assert len([h for h in history(client, first) if h["stage"] == "rollback"]) == 1
    assert len(rolled_back_events(client)) == 1


def test_a_later_upload_publishes_over_a_rollback(world):
    world.publish_revisions(3)
    world.run(rollback_module.rollback, SLUG, 1, 3)
    fourth = world.submission(4, note="take 4")
    world.run(upload_module.upload, fourth)
    assert (world.live().revision, world.live().id) == (4, fourth)


def test_a_rollback_to_a_withdrawn_revision_is_refused(world, client):
    first, _, _ = world.publish_revisions(3)
    world.run(retract_module.retract, first)  # not live: nothing public changes, but it is withdrawn
    with pytest.raises(RollbackRefused, match=f"revision 1 at {SLUG} \\(submission {first}\\) was withdrawn"):
        plan_rollback(world.runtime(), SLUG, 1)
    world.run(rollback_module.rollback, SLUG, 1, 3)  # the task checks again, and refuses too
    assert world.live().revision == 3 and rolled_back_events(client) == []


def test_a_rollback_to_a_removed_revision_is_refused_with_the_reason(client, tmp_path, monkeypatch):
    world = World(client, tmp_path, monkeypatch, keep=1, min_age=0)
    world.publish_revisions(3)
    assert kept_files(world) == {3}
    with pytest.raises(RollbackRefused, match=r"revision 1 at .* was removed on .*: retention keeps the newest 1"):
        plan_rollback(world.runtime(), SLUG, 1)
    with pytest.raises(RollbackRefused, match=f"{SLUG} has no revision 9 \\(kept: 3\\)"):
        plan_rollback(world.runtime(), SLUG, 9)
    with pytest.raises(RollbackRefused, match="keeps no revision before the live one"):
        plan_rollback(world.runtime(), SLUG)


def test_the_command_and_the_task_refuse_what_makes_no_sense(world):
    with pytest.raises(RollbackRefused, match=f"nothing is live at {SLUG}"):
        plan_rollback(world.runtime(), SLUG, 1)
    world.publish_revisions(2)
    with pytest.raises(RollbackRefused, match="already the live one"):
        plan_rollback(world.runtime(), SLUG, 2)
    assert plan_rollback(world.runtime(), SLUG).revision == 1  # the default: the one before the live one


def test_upload_keeps_every_young_revision_and_retention_removes_old_ones_past_the_newest_five(world):
    world.publish_revisions(7)
    assert kept_files(world) == {1, 2, 3, 4, 5, 6, 7}  # all younger than a day
    log = read_log(world.publish, SLUG)
    removed = prune(
        world.publish, log, keep=5, min_age=timedelta(hours=24), now=datetime.now(UTC) + timedelta(hours=25)
    )
    assert removed == [1, 2]
    assert kept_files(world) == {3, 4, 5, 6, 7}
    assert [r.revision for r in read_log(world.publish, SLUG).removed] == [1, 2]
    assert world.live().revision == 7


def test_an_upload_that_lands_while_a_rollback_waits_for_the_lease_makes_it_stand_aside(world, client):
    world.publish_revisions(3)  # the operator sees 3 live and asks for 1
    door = HeldDoor(client)
    rolling = world.start(rollback_module.rollback, SLUG, 1, 3, states=door)
    assert door.at_door.wait(HELD_SECONDS)
    fourth = world.submission(4, note="take 4")
    world.run(upload_module.upload, fourth)
    door.release.set()
    finish(rolling)
    assert not world.errors
    # Undoing a publication nobody has seen the operator consider is refused: 4 stays live.
    assert (world.live().revision, world.live().id) == (4, fourth) and rolled_back_events(client) == []


def test_an_upload_waits_for_a_rollback_held_at_its_switch(client, tmp_path, monkeypatch):
    world = World(client, tmp_path, monkeypatch)
    held = world.publish = HeldPut(world.root)  # the same directory, with a hold
    world.publish_revisions(3)
    held.hold_key = published_key(SLUG, MANIFEST)
    rolling = world.start(rollback_module.rollback, SLUG, 1, 3)
    assert held.holding.wait(HELD_SECONDS)  # the rollback is about to switch, holding the lease
    fourth = world.submission(4, note="take 4")
    uploading = world.start(upload_module.upload, fourth)
    uploading.join(1.5)
    # Without the lease the upload would have finished within that bounded wait.
    assert uploading.is_alive() and world.live().revision == 3
    held.release.set()
    finish(rolling, uploading)
    assert not world.errors
    assert world.live().revision == 4  # the rollback switched, then the upload published over it
    assert len(rolled_back_events(client)) == 1
