"""The site keeps its past when Redis loses its data: the issue's "Done when".

Publish N reviews, FLUSHALL, `marquee reconcile`, publish one more: the index and both
feeds list all N + 1, each of the N with the feed id it had before, and none of the N is
announced again. The stack has a redis-server of its own, which the test flushes.
"""

from __future__ import annotations

import json
import uuid

import feedparser
import httpx
import lxml.html
import pytest

from tests.conftest import fixture_bytes
from tests.support.processes import NO_SWEEPER, RedisServer, Stack, poll

pytestmark = pytest.mark.integration

N = 3


@pytest.fixture(params=["local", "s3"])
def own_stack(request, tmp_path):
    """A stack on a redis-server of its own, over the local store or over S3 (moto, by HTTP)."""
    redis_server = RedisServer(tmp_path / "redis").start()
    if request.param == "s3":
        moto = request.getfixturevalue("moto")
        bucket = f"recovery-{uuid.uuid4().hex[:8]}"
        moto.create_bucket(f"{bucket}-archive")
        moto.create_bucket(bucket, public_read=True)
        stores = {
            "archive_url": f"s3://{bucket}-archive",
            "publish_url": f"s3://{bucket}",
            "public_base_url": f"{moto.endpoint}/{bucket}",
            "extra_env": moto.env(),
        }
    else:
        stores = {"archive_url": str(tmp_path / "archive"), "publish_url": str(tmp_path / "publish")}
    # The operator's reconcile, with no sweeper reconciling before it (test_redis_loss covers that).
    stores["extra_env"] = {**stores.get("extra_env", {}), **NO_SWEEPER}
    stack = Stack(tmp_path / "stack", redis_url=redis_server.url, **stores)
    stack.start()
    yield stack
    stack.stop()
    redis_server.stop()


def review(title: str, **changes) -> bytes:
    return json.dumps(json.loads(fixture_bytes("glasshouse.json")) | {"title": title} | changes).encode()


def published(stack: Stack, body: bytes, **submit) -> dict:
    record = stack.wait_for(stack.submit(body, **submit).json()["id"])
    assert record["state"] == "published", record
    return record


def public(stack: Stack, key: str) -> httpx.Response:
    return httpx.get(f"{stack.env['MARQUEE_PUBLIC_BASE_URL']}/{key}", timeout=10)


def listing(stack: Stack) -> dict[str, dict[str, str]]:
    """Each feed's and the index's slugs, with the feeds' item ids: {"json"|"atom": {slug: id}, "index": {slug: ""}}."""
    feed = public(stack, "feeds/reviews.json").json()
    atom = feedparser.parse(public(stack, "feeds/reviews.atom").content)
    index = lxml.html.fromstring(public(stack, "index.html").text)
    return {
        "json": {item["_marquee"]["slug"]: item["id"] for item in feed["items"]},
        "atom": {entry.link.split("/")[-2]: entry.id for entry in atom.entries},
        "index": {href.split("/")[-2]: "" for href in index.xpath("//li[@class='card']//h2/a/@href")},
    }


def test_after_redis_loses_its_data_reconcile_keeps_the_catalogue_feed_ids_and_slugs(own_stack):
    stack = own_stack
    run = uuid.uuid4().hex[:6]
    before = [published(stack, review(f"Kept {n} {run}")) for n in range(N)]
    slugs = {r["slug"] for r in before}
    ids_before = listing(stack)
    assert set(ids_before["json"]) == set(ids_before["atom"]) == set(ids_before["index"]) == slugs

    stack.redis.flushall()
    looked = stack.marquee("reconcile", "--dry-run", "--min-age", "0")
    assert f"{N} published review(s): {N} missing in the index and feeds; {N} slug owner(s) missing" in looked.stdout
    done = stack.marquee("reconcile", "--min-age", "0", "--json")
    assert done.returncode == 0, done.stderr
    findings = {f["id"]: f for f in json.loads(done.stdout)}
    for record in before:
        # Already public: its state comes back as published, and nothing is sent on.
        assert (findings[record["id"]]["state"], findings[record["id"]]["tasks"]) == ("published", []), findings
        assert stack.status(record["id"])["state"] == "published"

    # The upload queue's rebuild task, which reconcile sent, writes every page and feed again.
    log = stack.dir / "worker-upload.log"
    poll(
        lambda: '"event": "catalogue.written", "slug": ""' in log.read_text(errors="replace"),
        timeout=30,
        what="the rebuild task to write the catalogue",
    )
    assert {s: listing(stack)["json"][s] for s in slugs} == ids_before["json"]  # rewritten, ids unchanged

    newest = published(stack, review(f"After {run}"))
    everyone = {*slugs, newest["slug"]}

    def all_listed() -> dict | None:
        now = listing(stack)
        return now if all(set(now[k]) == everyone for k in ("json", "atom", "index")) else None

    after = poll(all_listed, timeout=30, what="the index and both feeds to list all N + 1")
    for kind in ("json", "atom"):
        assert {s: after[kind][s] for s in slugs} == ids_before[kind], kind  # the same ids as before
    assert after["json"][newest["slug"]] == after["atom"][newest["slug"]]
    for record in before:
        assert stack.events("review.published", record["id"]) == []  # not announced twice
    assert len(stack.events("review.published", newest["id"])) == 1

    # Slug ownership came back: another writer reviewing the same film (first, before the
    # owner writes again) gets a slug of their own, and the owner's revision is the next
    # revision at the same slug.
    title = f"Kept 0 {run}"
    other = published(stack, review(title), writer="bob", secret=stack.other_secret)
    assert other["slug"] != before[0]["slug"]
    revised = published(stack, review(title, note="Revised."))
    assert revised["slug"] == before[0]["slug"]
    assert httpx.get(revised["urls"]["manifest"]).json()["revision"] == 2
