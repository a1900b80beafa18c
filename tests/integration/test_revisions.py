"""Revisions publish at the same slug, upload only what changed; other writers keep their own slugs."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from standardwebhooks import Webhook

from tests.conftest import fixture_bytes
from tests.support.event_contract import violations
from tests.support.processes import poll, stop_process
from tests.support.receivers import Receiver

pytestmark = pytest.mark.integration


def review(**changes) -> bytes:
    return json.dumps(json.loads(fixture_bytes("glasshouse.json")) | changes).encode()


def publish(stack, body: bytes, **kwargs) -> dict:
    response = stack.submit(body, **kwargs)
    assert response.status_code == 202, response.text
    record = stack.wait_for(response.json()["id"])
    assert record["state"] == "published", record["errors"]
    return record


def manifest(record: dict) -> dict:
    return httpx.get(record["urls"]["manifest"]).json()


def test_submitting_again_publishes_a_new_revision_at_the_same_slug(local_stack):
    title = f"Revised {uuid.uuid4().hex[:6]}"
    first = publish(local_stack, review(title=title, note="First cut."))
    before = manifest(first)
    root = Path(local_stack.env["MARQUEE_PUBLISH_URL"])
    slug = first["slug"]

    def by_name(m: dict) -> dict[str, str]:  # name → hash, the revision prefix dropped
        return {a["key"].split("/", 4)[4]: a["sha256"] for a in m["assets"]}

    stable = {name: (root / "reviews" / slug / name).stat() for name in by_name(before)}

    second = publish(local_stack, review(title=title, note="Director's cut."))
    after = manifest(second)
    assert second["slug"] == first["slug"] and second["id"] != first["id"]
    assert (before["revision"], after["revision"]) == (1, 2)
    assert all(a["key"].startswith(f"reviews/{slug}/r/2/") for a in after["assets"])
    data = httpx.get(second["urls"]["review"]).json()
    assert data["revision"] == 2 and data["note"] == "Director's cut."
    # A revision keeps the first publication's date and says when it was revised.
    assert data["date_published"] < data["date_modified"]

    old, new = by_name(before), by_name(after)
    unchanged = [name for name in new if old.get(name) == new[name]]
    changed = [name for name in new if name not in unchanged]
    assert unchanged and changed
    for name in unchanged:  # the stable key is not written again: the very same file
        now = (root / "reviews" / slug / name).stat()
        assert (now.st_ino, now.st_mtime_ns) == (stable[name].st_ino, stable[name].st_mtime_ns), name
    for name in changed:
        assert (root / "reviews" / slug / name).stat().st_mtime_ns != stable[name].st_mtime_ns
    for asset in before["assets"]:  # the first revision's own copies stay as its manifest says
        assert hashlib.sha256((root / asset["key"]).read_bytes()).hexdigest() == asset["sha256"], asset["key"]


def test_replaces_revises_a_review_even_under_a_new_title(local_stack):
    first = publish(local_stack, review(title=f"Working Title {uuid.uuid4().hex[:6]}"))
    second = publish(local_stack, review(title="The Final Title", replaces=first["id"]))
    assert second["slug"] == first["slug"] and manifest(second)["revision"] == 2


def test_a_writer_cannot_replace_another_writers_review(local_stack):
    first = publish(local_stack, review(title=f"Alice Only {uuid.uuid4().hex[:6]}"))
    response = local_stack.submit(
        review(title="Hijack", replaces=first["id"]), writer="bob", secret=local_stack.other_secret
    )
    record = local_stack.wait_for(response.json()["id"])
    assert record["state"] == "rejected" and [e["field"] for e in record["errors"]] == ["replaces"]
    assert manifest(first)["revision"] == 1


def test_two_writers_reviewing_the_same_film_get_distinct_stable_slugs(local_stack):
    title = f"Shared Film {uuid.uuid4().hex[:6]}"
    alice = publish(local_stack, review(title=title))
    bob = publish(local_stack, review(title=title), writer="bob", secret=local_stack.other_secret)
    bob_again = publish(
        local_stack, review(title=title, note="Updated."), writer="bob", secret=local_stack.other_secret
    )
    assert alice["slug"] != bob["slug"] and bob["slug"] == bob_again["slug"]
    assert bob["slug"].startswith(alice["slug"] + "-")
    assert manifest(alice)["revision"] == 1 and manifest(bob_again)["revision"] == 2


EMBARGO_SECONDS = 12  # long enough for revision 2 to go the whole way first on a busy machine


def test_an_embargoed_revision_overtaken_by_a_later_one_ends_superseded(local_stack):
    """Revision 1 waits for its embargo; revision 2, sent after it with none, goes live
    first. When the embargo lifts, revision 1 publishes nothing and ends superseded: its
    event names the live revision, and no review.published is ever announced for it."""
    stack = local_stack
    hook = Receiver(lambda n, r: (204, {}))
    secret = stack.subscribe(f"superseded-{uuid.uuid4().hex[:6]}", hook.url, "review.superseded")
    try:
        title = f"Overtaken {uuid.uuid4().hex[:6]}"
        publish_at = datetime.now(UTC) + timedelta(seconds=EMBARGO_SECONDS)
        held = stack.submit(review(title=title, note="Embargoed.", publish_at=publish_at.isoformat())).json()["id"]
        stack.wait_for(held, "scheduled", timeout=30)
        later = publish(stack, review(title=title, note="Sent later, live first."))
        assert datetime.now(UTC) < publish_at, "revision 2 went live after revision 1's embargo: nothing overtaken"

        record = stack.wait_for(held, "superseded", "published", "failed", timeout=EMBARGO_SECONDS + 30)
        assert record["state"] == "superseded" and record["superseded_by"] == later["id"]
        live = manifest(later)
        assert (live["id"], live["revision"]) == (later["id"], 2)  # revision 2 stays live

        assert stack.events("review.published", held) == []
        [event] = stack.events("review.superseded", held)
        data = event["data"]
        assert (data["slug"], data["revision"]) == (later["slug"], 1)
        assert (data["superseded_by"]["id"], data["superseded_by"]["revision"]) == (later["id"], 2)
        assert httpx.get(data["superseded_by"]["manifest_url"]).json() == live
        assert httpx.get(data["manifest_url"]).status_code == 404  # revision 1's own: never written

        [delivered] = poll(
            lambda: [r for r in hook.received if r.json()["data"]["id"] == held], timeout=30, what="the webhook"
        )
        Webhook(secret).verify(delivered.body, delivered.headers)
        assert delivered.json() == event and violations(event) == []
        shown = stack.marquee("status", held, "--url", stack.url)
        assert "state:    superseded" in shown.stdout and later["id"] in shown.stdout, shown.stdout + shown.stderr
    finally:
        hook.stop()


def test_revisions_racing_through_several_upload_workers_never_go_backwards(local_stack):
    """Three upload worker processes, six revisions of one review sent at once: whatever
    order the uploads run in, the public revision only ever moves forward, and ends at the
    last one. A revision that reaches upload after a later one is live ends superseded."""
    stack = local_stack
    extra = [stack._spawn(f"worker-upload-race-{n}", ["worker", "upload", "-n", f"uploadrace{n}@%h"]) for n in (1, 2)]
    try:
        for n in (1, 2):
            log = stack.dir / f"worker-upload-race-{n}.log"

            def ready(log: Path = log) -> bool:
                return "ready." in log.read_text(errors="replace")

            poll(ready, timeout=40, what="an extra upload worker")
        title = f"Raced {uuid.uuid4().hex[:6]}"
        ids = []
        for n in range(6):
            response = stack.submit(review(title=title, note=f"Take {n}."))
            assert response.status_code == 202, response.text
            ids.append(response.json()["id"])
        seen: list[int] = []

        def all_settled() -> bool:
            records = [stack.status(id) for id in ids]
            slug = records[0]["slug"]
            if slug:
                live = stack.client.get(f"/site/reviews/{slug}/manifest.json")
                if live.status_code == 200:
                    seen.append(live.json()["revision"])
            return all(r["state"] in ("published", "superseded") for r in records)

        poll(all_settled, timeout=120, what="every revision to settle")
    finally:
        for process in extra:
            stop_process(process)
    assert seen == sorted(seen), seen  # never backwards
    final = stack.client.get(f"/site/reviews/{stack.status(ids[0])['slug']}/manifest.json").json()
    assert final["revision"] == len(ids)  # a new title: revisions 1 to 6, and the last is live
    for id in ids:  # each announced once, as what it became: never published pointing elsewhere
        published, superseded = stack.events("review.published", id), stack.events("review.superseded", id)
        assert len(published) + len(superseded) == 1, id
        for event in published:
            assert httpx.get(event["data"]["manifest_url"]).json()["id"] == id
        for event in superseded:
            assert event["data"]["superseded_by"]["revision"] > event["data"]["revision"]


def test_an_operator_rolls_a_review_back_to_an_earlier_revision(stack):
    """Three revisions published; `marquee rollback SLUG --to 1 --wait` makes the first live
    again: a consumer reads its manifest, byte for byte as it was, and its files with those
    hashes; the submission's status and history say so, and review.rolled_back is appended."""
    title = f"Rolled Back {uuid.uuid4().hex[:6]}"
    first = publish(stack, review(title=title, note="Take one."))
    slug = first["slug"]
    live_url = first["urls"]["manifest"]  # the public address, on either store
    first_manifest = httpx.get(live_url).content  # revision 1's, as it went live
    for note in ("Take two.", "Take three."):
        publish(stack, review(title=title, note=note))
    assert httpx.get(live_url).json()["revision"] == 3

    done = stack.marquee("rollback", slug, "--to", "1", "--wait")
    assert done.returncode == 0, done.stderr
    assert f"from revision 3 to 1 (submission {first['id']})" in done.stdout and "live: revision 1" in done.stdout

    live = httpx.get(live_url)
    assert live.content == first_manifest
    for asset in live.json()["assets"]:
        body = httpx.get(asset["url"]).content
        assert hashlib.sha256(body).hexdigest() == asset["sha256"], asset["key"]
    data = httpx.get(first["urls"]["review"]).json()  # the stable address shows revision 1 again
    assert data["revision"] == 1 and data["note"] == "Take one."
    feed = httpx.get(f"{stack.env['MARQUEE_PUBLIC_BASE_URL']}/feeds/reviews.json").json()
    assert [i["_marquee"]["revision"] for i in feed["items"] if i["_marquee"]["slug"] == slug] == [1]

    status = stack.status(first["id"])
    assert status["state"] == "published"
    notes = [h for h in status["history"] if h["stage"] == "rollback"]
    assert [n["note"] for n in notes] == ["live again: rolled back from revision 3"]
    shown = stack.marquee("status", first["id"])
    assert shown.returncode == 0 and "live again: rolled back from revision 3" in shown.stdout
    [event] = stack.events("review.rolled_back", first["id"])
    data = event["data"]
    assert (data["slug"], data["revision"], data["from_revision"]) == (slug, 1, 3)
    listed = stack.marquee("revisions", slug)
    assert [line.split()[0] for line in listed.stdout.splitlines() if line.endswith("LIVE")] == ["1"]


def test_a_rollback_to_a_withdrawn_revision_is_refused_saying_so(local_stack):
    """A withdrawal that lost the race with a later revision (the writer withdrew revision 1
    as revision 2 went live) leaves revision 1's files in place; it is never live again."""
    stack = local_stack
    title = f"Withdrawn Take {uuid.uuid4().hex[:6]}"
    first = publish(stack, review(title=title, note="Take one."))
    publish(stack, review(title=title, note="Take two."))
    # What the race leaves: the retract task ran for revision 1 once revision 2 was live.
    sent = stack.python(f"from shared.pipeline import hand_off; hand_off('retract', {first['id']!r})")
    assert sent.returncode == 0, sent.stderr
    stack.wait_for(first["id"], "retracted")

    done = stack.marquee("rollback", first["slug"], "--to", "1", "--wait")
    assert done.returncode == 1
    assert f"revision 1 at {first['slug']} (submission {first['id']}) was withdrawn by its writer" in done.stderr
    assert stack.client.get(f"/site/reviews/{first['slug']}/manifest.json").json()["revision"] == 2
