"""One writer of a slug at a time: upload and retract, interleaved on purpose.

The tasks run in-process, in threads, against a real redis-server and real local stores.
A thin wrapper holds one of them at a chosen point (the switch, or the lease's door) until
the test lets it go, so each interleaving is the one named, every run. Whatever the order,
the public revision never goes backwards and a withdrawn review never comes back.
"""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
import redis

from services.upload import retract as retract_module
from services.upload import upload as upload_module
from services.validate.rules import build_review
from shared.envelope import from_stream
from shared.keys import MANIFEST, output_key, published_key, retracted_key, review_key
from shared.models import Manifest, State
from shared.parsing import parse_submission
from shared.pipeline import Runtime
from shared.state import EVENTS_STREAM, SubmissionStates, now_iso
from shared.storage import LocalStore
from tests.conftest import fixture_bytes
from tests.support.event_contract import violations
from tests.support.processes import read_stream
from tests.support.tasks import raw
from tests.support.upload_world import HELD_SECONDS, SLUG, HeldDoor, HeldPut, finish


@pytest.fixture
def client(redis_server):
    connection = redis.Redis.from_url(redis_server.url.replace("/0", "/12"), decode_responses=True)
    connection.flushdb()
    yield connection
    connection.flushdb()


@pytest.fixture
def world(client, tmp_path, monkeypatch):
    """Archive, publish store and states as the workers have them; hand-offs recorded, not sent."""
    settings = SimpleNamespace(
        public_base_url="https://reviews.example",
        task_time_limit=120,
        task_soft_time_limit=100,
        retention_keep=5,
        retention_min_age=24 * 3600,
    )
    archive = LocalStore(tmp_path / "archive", str(tmp_path / "archive"))
    publish = HeldPut(tmp_path / "publish")
    handed: list[tuple[str, str]] = []

    def runtime(states: SubmissionStates | None = None) -> Runtime:
        return Runtime(settings=settings, states=states or SubmissionStates(client), archive=archive, publish=publish)  # type: ignore[arg-type]

    # Each thread runs with the runtime the test gave it; the default is plain states.
    current = threading.local()
    for module in (upload_module, retract_module):
        monkeypatch.setattr(module, "get_runtime", lambda: getattr(current, "rt", None) or runtime())
    monkeypatch.setattr(upload_module, "hand_off", lambda task, sid: handed.append((task, sid)))
    monkeypatch.setattr(Runtime, "announce", lambda self, event: [])

    def submission(slug: str, revision: int, *, note: str) -> str:
        """A review that has been through validate, render and social: its outputs archived."""
        id = uuid.uuid4().hex
        sub = parse_submission(fixture_bytes("glasshouse.json"), content_type="application/json")
        review = build_review(
            sub, id=id, writer="alice", slug=slug, revision=revision, date_published=datetime.now(UTC)
        ).model_copy(update={"note": note})
        archive.put(review_key(id), review.model_dump_json().encode(), content_type="application/json")
        archive.put(output_key(id, "review.json"), json.dumps({"note": note}).encode(), content_type="application/json")
        archive.put(output_key(id, "index.html"), f"<p>{note}</p>".encode(), content_type="text/html")
        states = SubmissionStates(client)
        states.create(id, writer="alice", webhook_id=f"msg_{id}", received_at=now_iso())
        for state, stage in ((State.VALIDATED, "validate"), (State.RENDERED, "render"), (State.SOCIAL_READY, "social")):
            states.advance(id, state, stage=stage, slug=slug)
        return id

    def run(task, id: str, *, states: SubmissionStates | None = None) -> threading.Thread:
        def target() -> None:
            current.rt = runtime(states)
            raw(task)(id)

        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        return thread

    def live() -> Manifest | None:
        path = tmp_path / "publish" / published_key("glasshouse-2025", MANIFEST)
        return Manifest.model_validate_json(path.read_bytes()) if path.exists() else None

    return SimpleNamespace(
        client=client,
        archive=archive,
        publish=publish,
        submission=submission,
        run=run,
        live=live,
        handed=handed,
        root=tmp_path / "publish",
    )


def test_an_older_revision_held_at_its_switch_never_lands_after_a_newer_one(world):
    first, second = world.submission(SLUG, 1, note="first"), world.submission(SLUG, 2, note="second")
    world.publish.hold_key = published_key(SLUG, MANIFEST)
    older = world.run(upload_module.upload, first)
    assert world.publish.holding.wait(HELD_SECONDS)  # revision 1 is about to switch
    newer = world.run(upload_module.upload, second)
    # Without a lease the newer upload would finish within this bounded wait, and the
    # older one would land after it.
    newer.join(1.5)
    world.publish.release.set()
    finish(older, newer)
    assert world.live().revision == 2 and world.live().id == second


def test_a_newer_revision_held_at_its_switch_makes_the_older_one_stand_aside(world):
    first, second = world.submission(SLUG, 1, note="first"), world.submission(SLUG, 2, note="second")
    world.publish.hold_key = published_key(SLUG, MANIFEST)
    newer = world.run(upload_module.upload, second)
    assert world.publish.holding.wait(HELD_SECONDS)
    older = world.run(upload_module.upload, first)
    older.join(1.5)
    world.publish.release.set()
    finish(older, newer)
    assert world.live().revision == 2
    assert not (world.root / f"reviews/{SLUG}/r/1").exists()  # the older one published nothing
    # It ends superseded, announced as such: never published, nor pointed at revision 2's manifest.
    assert SubmissionStates(world.client).state_of(first) == State.SUPERSEDED
    assert ("notify", first) not in world.handed and ("notify", second) in world.handed
    [event] = [from_stream(f) for _, f in read_stream(world.client, EVENTS_STREAM) if f["id"] == first]
    assert event["type"] == "review.superseded" and violations(event) == []
    assert (event["data"]["revision"], event["data"]["superseded_by"]) == (
        1,
        {"id": second, "revision": 2, "manifest_url": f"https://reviews.example/reviews/{SLUG}/r/2/manifest.json"},
    )


def test_a_withdrawal_while_an_upload_is_switching_takes_the_review_down(world):
    only = world.submission(SLUG, 1, note="only")
    world.publish.hold_key = published_key(SLUG, MANIFEST)
    uploading = world.run(upload_module.upload, only)
    assert world.publish.holding.wait(HELD_SECONDS)
    withdrawing = world.run(retract_module.retract, only)
    withdrawing.join(1.5)
    world.publish.release.set()
    finish(uploading, withdrawing)
    assert world.live() is None
    assert not list(world.root.glob("reviews/**/*.*"))  # no object of the review is left
    assert SubmissionStates(world.client).state_of(only) == State.RETRACTED


def test_an_upload_that_checked_before_a_withdrawal_publishes_nothing_after_it(world):
    """The embargo lifts (release hands the review to upload) while the writer withdraws it:
    upload has passed its first check, the withdrawal runs whole, then upload goes on."""
    only = world.submission(SLUG, 1, note="only")
    door = HeldDoor(world.client)
    uploading = world.run(upload_module.upload, only, states=door)
    assert door.at_door.wait(HELD_SECONDS)  # checked "not withdrawn", now at the lease
    withdrawing = world.run(retract_module.retract, only)
    finish(withdrawing)
    assert world.archive.head(retracted_key(only)) is not None
    door.release.set()
    finish(uploading)
    assert world.live() is None and not list(world.root.glob("reviews/**/*.*"))
    assert SubmissionStates(world.client).state_of(only) == State.RETRACTED


def test_withdrawing_a_revision_that_is_not_live_touches_nothing_public(world):
    first, second = world.submission(SLUG, 1, note="first"), world.submission(SLUG, 2, note="second")
    for id in (first, second):
        finish(world.run(upload_module.upload, id))
    before = sorted(p.relative_to(world.root) for p in world.root.rglob("*") if p.is_file())
    finish(world.run(retract_module.retract, first))
    after = sorted(p.relative_to(world.root) for p in world.root.rglob("*") if p.is_file())
    assert after == before and world.live().id == second
    assert SubmissionStates(world.client).state_of(first) == State.RETRACTED
