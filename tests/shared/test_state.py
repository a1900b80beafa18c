"""Submission state against a real redis-server: forward only, final states final, events once."""

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from shared.envelope import envelope, from_stream
from shared.errors import Problem
from shared.models import State
from shared.slugs import is_variant_of, slug_owner
from shared.state import EVENTS_STREAM, NewSubmission, SubmissionStates, now_iso
from tests.support.event_contract import entry_violations


@pytest.fixture
def states(redis_server):
    client = redis.Redis.from_url(redis_server.url.replace("/0", "/9"), decode_responses=True)
    yield SubmissionStates(client)
    client.flushdb()


def new(states) -> str:
    submission_id = uuid.uuid4().hex
    states.create(submission_id, writer="alice", webhook_id="msg_1", received_at="2026-01-01T00:00:00Z")
    return submission_id


def events(states, submission_id):
    """The submission's entries of the stream, each checked against its published schema."""
    found = [f for _, f in states.redis.xrange(EVENTS_STREAM) if f["id"] == submission_id]
    for fields in found:
        assert entry_violations(fields) == [], fields
    return found


def published_event(sid: str) -> dict:
    return envelope(
        "review.published",
        id=sid,
        writer="alice",
        slug="glasshouse-2025",
        revision=1,
        manifest_url="https://reviews.example/reviews/glasshouse-2025/r/1/manifest.json",
        timestamp="2026-01-01T00:00:00.000Z",
        article_url="https://reviews.example/reviews/glasshouse-2025/index.html",
    )


def test_states_move_forward_and_never_back(states):
    sid = new(states)
    assert states.advance(sid, State.VALIDATED, stage="validate") == State.VALIDATED
    assert states.advance(sid, State.RENDERED, stage="render") == State.RENDERED
    assert states.advance(sid, State.VALIDATED, stage="validate") == State.RENDERED  # a late duplicate
    assert [h["state"] for h in states.get(sid)["history"]] == ["received", "validated", "rendered"]


def test_publication_appends_its_event_exactly_once(states):
    sid = new(states)
    event = published_event(sid)
    for _ in range(3):
        states.advance(sid, State.PUBLISHED, stage="notify", event=event)
    [entry] = events(states, sid)
    assert entry["type"] == "review.published" and from_stream(entry) == event  # the envelope, whole
    assert states.advance(sid, State.FAILED, stage="upload") == State.PUBLISHED  # final is final


def test_a_rejection_keeps_every_problem(states):
    sid = new(states)
    states.reject(sid, [Problem("rating", "too high"), Problem("certificate", "unknown")], writer="alice")
    record = states.get(sid)
    assert record["state"] == "rejected"
    assert record["errors"] == [
        {"field": "rating", "message": "too high"},
        {"field": "certificate", "message": "unknown"},
    ]
    [entry] = events(states, sid)
    rejected = from_stream(entry)
    assert rejected["type"] == "review.rejected"
    assert rejected["data"]["errors"] == record["errors"]  # one shape: an array, as the status shows
    assert (rejected["data"]["slug"], rejected["data"]["revision"], rejected["data"]["manifest_url"]) == (None,) * 3


def test_a_failure_is_recorded_once_and_can_be_replayed_forward(states):
    sid = new(states)
    manifest_url = "https://reviews.example/reviews/glasshouse-2025/r/3/manifest.json"
    states.advance(
        sid, State.VALIDATED, stage="validate", slug="glasshouse-2025", revision="3", manifest_url=manifest_url
    )
    states.fail(sid, stage="render", error="StorageUnavailable: down", attempts=7)
    states.fail(sid, stage="render", error="StorageUnavailable: down", attempts=7)
    record = states.get(sid)
    assert record["state"] == "failed" and "7 attempt" in record["errors"][0]["message"]
    [entry] = events(states, sid)
    failed = from_stream(entry)["data"]
    assert (failed["stage"], failed["attempts"], failed["errors"]) == ("render", 7, record["errors"])
    # validate placed it, so the failure names its revision
    assert (failed["slug"], failed["revision"], failed["manifest_url"]) == ("glasshouse-2025", 3, manifest_url)
    assert states.advance(sid, State.RENDERED, stage="render") == State.RENDERED


def test_a_failure_before_validate_names_no_revision(states):
    sid = new(states)
    states.fail(sid, stage="validate", error="StorageUnavailable: down", attempts=7)
    failed = from_stream(events(states, sid)[0])["data"]
    assert (failed["slug"], failed["revision"], failed["manifest_url"]) == (None, None, None)


def test_a_superseded_submission_stays_superseded(states):
    sid = new(states)
    states.advance(sid, State.SOCIAL_READY, stage="social")
    assert states.advance(sid, State.SUPERSEDED, stage="upload", superseded_by="f" * 32) == State.SUPERSEDED
    for later in (State.UPLOADED, State.PUBLISHED, State.FAILED, State.RETRACTED):
        assert states.advance(sid, later, stage="notify") == State.SUPERSEDED  # final is final
    assert states.get(sid)["superseded_by"] == "f" * 32


def test_unknown_submissions_are_not_created_by_a_transition(states):
    assert states.advance(uuid.uuid4().hex, State.VALIDATED, stage="validate") is None
    assert states.get(uuid.uuid4().hex) is None


def test_a_webhook_id_is_remembered_per_writer_with_the_record_it_made(states):
    first, second, third = (uuid.uuid4().hex for _ in range(3))
    at = "2026-01-01T00:00:00Z"
    assert states.create(first, writer="alice", webhook_id="msg_9", received_at=at) is None
    assert states.create(second, writer="alice", webhook_id="msg_9", received_at=at) == first
    assert states.get(second) is None  # a repeat records nothing
    assert states.create(third, writer="bob", webhook_id="msg_9", received_at=at) is None
    assert states.get(first)["state"] == states.get(third)["state"] == "received"


def test_forgetting_a_submission_frees_its_webhook_id_only_if_it_holds_it(states):
    mine, theirs, retry = (
        NewSubmission(uuid.uuid4().hex, writer="alice", webhook_id="msg_1", received_at="2026") for _ in range(3)
    )
    assert states.create_many([mine, theirs]) == [None, mine.id]
    states.forget_many([theirs])  # a repeat that gave up removes nothing of the first's
    assert states.get(mine.id)["state"] == "received"
    states.forget_many([mine])
    assert states.get(mine.id) is None
    assert states.create_many([retry]) == [None]  # the sender's retry starts afresh


def test_a_withdrawals_webhook_id_is_claimed_once_per_writer_and_can_be_given_back(states):
    sid = new(states)
    assert states.claim_withdrawal(sid, writer="alice", webhook_id="msg_w")
    assert not states.claim_withdrawal(sid, writer="alice", webhook_id="msg_w")  # a replay
    assert 0 < states.redis.ttl("marquee:withdrawal:alice:msg_w") <= 7 * 24 * 3600
    assert states.claim_withdrawal(sid, writer="bob", webhook_id="msg_w")  # ids are per writer
    # Apart from submissions' claims: the submission's own webhook-id is no withdrawal's.
    assert states.claim_withdrawal(sid, writer="alice", webhook_id="msg_1")
    states.release_withdrawal(writer="alice", webhook_id="msg_w")
    assert states.claim_withdrawal(sid, writer="alice", webhook_id="msg_w")


def test_slugs_belong_to_their_first_owner(states):
    assert states.claim_slug("her-2013", owner="alice/her")
    assert states.claim_slug("her-2013", owner="alice/her")
    assert not states.claim_slug("her-2013", owner="bob/her")


ALICE, BOB = slug_owner("alice", "Her", 2013), slug_owner("bob", "Her", 2013)


def test_another_owner_gets_a_variant_of_their_own_and_keeps_it(states):
    assert states.place_slug("her-2013", owner=ALICE) == "her-2013"
    bobs = states.place_slug("her-2013", owner=BOB)
    assert bobs is not None and is_variant_of(bobs, "her-2013")
    assert states.slug_owner(bobs) == BOB and states.slug_owner("her-2013") == ALICE
    # Each later submission of the same writer's review of the film lands where the first did.
    assert [states.place_slug("her-2013", owner=o) for o in (ALICE, BOB, BOB)] == ["her-2013", bobs, bobs]
    carols = states.place_slug("her-2013", owner=slug_owner("carol", "Her", 2013))
    assert carols not in ("her-2013", bobs)


def test_a_variant_claimed_ahead_by_another_writer_is_never_handed_out(states):
    """Bob holds her-2013 and has claimed the variant alice would be given (as he could when
    variants were computed from writer, title and year). Alice gets a slug she holds; Bob's
    claims stay his."""
    assert states.place_slug("her-2013", owner=BOB) == "her-2013"
    squatter = slug_owner("bob", "Her 2013 aaaaaa", None)
    assert states.place_slug("her-2013-aaaaaa", owner=squatter) == "her-2013-aaaaaa"
    draws = iter(["her-2013-aaaaaa", "her-2013-bbbbbb"])
    placed = states.place_slug("her-2013", owner=ALICE, draw=lambda base: next(draws))
    assert placed == "her-2013-bbbbbb" and states.slug_owner(placed) == ALICE
    assert states.slug_owner("her-2013-aaaaaa") == squatter and states.slug_owner("her-2013") == BOB
    assert states.place_slug("her-2013", owner=ALICE) == "her-2013-bbbbbb"  # and it stays hers
    # Every draw taken: no slug rather than someone else's.
    taken = slug_owner("carol", "Her", 2013)
    assert states.place_slug("her-2013", owner=taken, draw=lambda base: "her-2013-aaaaaa", draws=3) is None


def test_a_remembered_variant_someone_else_now_holds_is_replaced(states):
    assert states.place_slug("her-2013", owner=BOB) == "her-2013"
    states.redis.hset("marquee:slug:her-2013:variants", ALICE, "her-2013-cccccc")  # remembered…
    assert states.claim_slug("her-2013-cccccc", owner=BOB)  # …but claimed by another since (a Redis loss)
    placed = states.place_slug("her-2013", owner=ALICE)
    assert placed not in ("her-2013", "her-2013-cccccc") and states.slug_owner(placed) == ALICE
    assert states.place_slug("her-2013", owner=ALICE) == placed


def test_racing_writers_each_end_on_a_slug_they_hold(states):
    """Many submissions of two writers' reviews of one film, at once, over real Redis: every
    one of a writer's lands on the same slug, and no slug is handed to two owners."""
    owners = [ALICE, BOB, slug_owner("carol", "Her", 2013)] * 8
    with ThreadPoolExecutor(max_workers=len(owners)) as pool:
        placed = list(pool.map(lambda owner: states.place_slug("her-2013", owner=owner), owners))
    by_owner: dict[str, set[str | None]] = {}
    for owner, slug in zip(owners, placed, strict=True):
        by_owner.setdefault(owner, set()).add(slug)
    assert all(len(slugs) == 1 for slugs in by_owner.values()), by_owner
    slugs = [next(iter(slugs)) for slugs in by_owner.values()]
    assert len(set(slugs)) == 3 and None not in slugs
    for owner, (slug,) in by_owner.items():
        assert states.slug_owner(slug) == owner


def test_a_restored_variant_is_where_its_owner_lands_again(states):
    """After Redis lost its data, reconcile puts a variant back for its owner: their next
    submission of the film is a revision at it, not a new slug."""
    assert states.restore_slug("her-2013", owner=BOB, revision=1)
    assert states.restore_slug("her-2013-dddddd", owner=ALICE, revision=2, base="her-2013")
    assert states.place_slug("her-2013", owner=ALICE) == "her-2013-dddddd"
    # Not for a variant someone else claimed since the loss.
    dave, squatter = slug_owner("dave", "Her", 2013), slug_owner("eve", "Her 2013 eeeeee", None)
    assert states.claim_slug("her-2013-eeeeee", owner=squatter)
    assert not states.restore_slug("her-2013-eeeeee", owner=dave, revision=1, base="her-2013")
    assert states.redis.hget("marquee:slug:her-2013:variants", dave) is None
    assert states.place_slug("her-2013", owner=dave) not in ("her-2013", "her-2013-eeeeee")


def test_revisions_count_up_and_a_lost_counter_resumes_from_what_is_published(states):
    assert states.next_revision("amelie-2001", published=0) == 1
    assert states.next_revision("amelie-2001", published=0) == 2
    assert states.next_revision("her-2013", published=4) == 5  # Redis lost it; the store had revision 4
    assert states.first_published("her-2013", candidate="2026-01-01") == "2026-01-01"
    assert states.first_published("her-2013", candidate="2026-05-05") == "2026-01-01"


def test_a_restored_slug_keeps_a_claim_made_since_and_its_counter_only_moves_up(states):
    assert states.slug_known(["her-2013", "amelie-2001"]) == [False, False]
    assert states.restore_slug("her-2013", owner="alice/her", revision=3, first_published="2025-01-01")
    assert not states.claim_slug("her-2013", owner="bob/her")  # another writer cannot take it
    assert states.next_revision("her-2013", published=3) == 4
    assert not states.restore_slug("her-2013", owner="carol/her", revision=2, first_published="2026-01-01")
    assert states.claim_slug("her-2013", owner="alice/her")
    assert states.next_revision("her-2013", published=3) == 5  # never back to 3
    assert states.first_published("her-2013", candidate="2027-01-01") == "2025-01-01"
    assert states.claim_slug("amelie-2001", owner="bob/amelie")  # claimed since the loss: kept
    assert not states.restore_slug("amelie-2001", owner="alice/amelie", revision=1)
    assert states.claim_slug("amelie-2001", owner="bob/amelie")
    assert states.slug_known(["her-2013", "amelie-2001"]) == [True, True]


def test_an_outcome_is_counted_by_the_move_itself_once(states):
    from shared.observability import metrics

    published, failed = uuid.uuid4().hex, uuid.uuid4().hex
    for sid in (published, failed):
        states.create(sid, writer="alice", webhook_id=f"msg_{sid}", received_at="2026-01-01T00:00:00Z")
    for _ in range(2):  # a stage run twice moves (and counts) once
        states.advance(published, State.PUBLISHED, stage="notify", event=published_event(published))
        states.fail(failed, stage="render", error="boom", attempts=1)
    counters = states.redis.hgetall(metrics.COUNTERS_KEY)
    assert counters[metrics.outcome_field("published", stage="notify")] == "1"
    assert counters[metrics.outcome_field("failed", stage="render")] == "1"
    assert metrics.outcome_field("validated", stage="validate") is None


def test_fields_reads_only_the_fields_asked_for(states):
    sid = new(states)
    states.advance(sid, State.VALIDATED, stage="validate", slug="the-salt-road-2025")
    assert states.fields(sid, "writer", "slug", "urls") == {
        "state": "validated",
        "writer": "alice",
        "slug": "the-salt-road-2025",
        "urls": "{}",
    }
    assert states.fields(sid, "not-set") == {"state": "validated", "not-set": ""}
    assert states.fields(uuid.uuid4().hex, "writer") is None


def test_a_note_records_history_without_a_move_and_its_event_once_per_claim(states):
    sid = new(states)
    states.advance(sid, State.PUBLISHED, stage="notify")
    base = "https://reviews.example/reviews/the-salt-road-2025"
    event = envelope(
        "review.rolled_back",
        id=sid,
        writer="alice",
        slug="the-salt-road-2025",
        revision=1,
        manifest_url=f"{base}/r/1/manifest.json",
        timestamp=now_iso(),
        from_revision=2,
        article_url=f"{base}/index.html",
    )
    assert states.note(sid, "live again", stage="rollback", claim="s:1:t1", event=event)
    assert not states.note(sid, "live again", stage="rollback", claim="s:1:t1", event=event)  # delivered twice
    assert states.note(sid, "live again", stage="rollback", claim="s:1:t2", event=event)  # a later rollback
    record = states.get(sid)
    assert record["state"] == State.PUBLISHED
    assert [(h["stage"], h["state"], h.get("note")) for h in record["history"][-2:]] == [
        ("rollback", "published", "live again"),
        ("rollback", "published", "live again"),
    ]
    assert [e["type"] for e in events(states, sid)] == ["review.rolled_back", "review.rolled_back"]
