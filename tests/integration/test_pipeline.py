"""A review travels webhook → validate → render → social → upload → published, for real:
redis-server, celery worker processes, HTTP into ingest, and each store backend."""

from __future__ import annotations

import hashlib
import json

import httpx
import pytest

from shared.queues import task_name
from tests.conftest import fixture_bytes, fixture_json
from tests.support.processes import poll

pytestmark = pytest.mark.integration

FURNITURE = ("Follow Us On", "Subscribe To Our", "Download The App", "Available on the App Store", "Google Play")
REQUIRED_ASSETS = {"index.html", "review.json", "instagram.json", "youtube.json"}


def published_assets(record: dict) -> tuple[dict, dict[str, bytes]]:
    """Fetch the manifest over HTTP, then every asset it lists, as a consumer would."""
    manifest = httpx.get(record["urls"]["manifest"], timeout=10).json()
    assets = {}
    for asset in manifest["assets"]:
        response = httpx.get(asset["url"], timeout=10)
        assert response.status_code == 200, asset["url"]
        assert response.headers["content-type"].split(";")[0] == asset["content_type"].split(";")[0]
        assets[asset["key"].split("/", 4)[4]] = response.content  # name after reviews/<slug>/r/<revision>/
        assert hashlib.sha256(response.content).hexdigest() == asset["sha256"], asset["key"]
        assert len(response.content) == asset["bytes"]
    return manifest, assets


def test_text_review_in_the_seed_format_is_published_without_site_furniture(stack):
    response = stack.submit(fixture_bytes("night-ferry.txt"), content_type="text/plain; charset=utf-8")
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["status_url"].endswith(f"/v1/reviews/{accepted['id']}")

    record = stack.wait_for(accepted["id"])
    assert record["state"] == "published", record["errors"]
    assert record["slug"] == "the-night-ferry"
    assert [h["state"] for h in record["history"]] == [
        "received",
        "validated",
        "rendered",
        "social_ready",
        "uploaded",
        "published",
    ]

    manifest, assets = published_assets(record)
    assert manifest["id"] == accepted["id"] and manifest["slug"] == "the-night-ferry"
    assert set(assets) >= REQUIRED_ASSETS
    page = assets["index.html"].decode()
    assert "The Night Ferry" in page and "Dana Whitlock" in page and "3.5 out of 5 stars" in page
    assert "ship’s corridors" in page  # curly quotes survive as text
    assert "is in cinemas from 3 March" in page  # the note
    for name, data in assets.items():
        text = data.decode(errors="replace")
        for furniture in FURNITURE:
            assert furniture not in text, f"{furniture!r} reached {name}"

    [event] = stack.events("review.published", accepted["id"])
    data = event["data"]
    assert (data["id"], data["slug"], data["revision"]) == (accepted["id"], "the-night-ferry", manifest["revision"])
    # The event names the revision's own manifest, which is what was published, byte for byte.
    assert data["manifest_url"].endswith(f"/reviews/the-night-ferry/r/{manifest['revision']}/manifest.json")
    assert httpx.get(data["manifest_url"], timeout=10).json() == manifest
    assert data["article_url"] == record["urls"]["article"]


def test_json_review_is_published_with_its_data(stack):
    response = stack.submit(fixture_bytes("glasshouse.json"))
    assert response.status_code == 202, response.text
    record = stack.wait_for(response.json()["id"])
    assert record["state"] == "published", record["errors"]
    _, assets = published_assets(record)
    review = json.loads(assets["review.json"])
    source = fixture_json("glasshouse.json")
    assert review["title"] == source["title"] and review["rating"] == 4
    assert review["directors"] == source["directors"] and review["cast"] == source["cast"]
    assert len(review["paragraphs"]) == 2


def test_title_comes_from_the_query_when_the_text_has_none(stack):
    response = stack.submit(
        fixture_bytes("untitled-circus.txt"), content_type="text/plain", params={"title": "The Quiet Elephant"}
    )
    assert response.status_code == 202, response.text
    record = stack.wait_for(response.json()["id"])
    assert record["state"] == "published" and record["slug"] == "the-quiet-elephant"


def test_content_rule_breaches_end_rejected_with_one_message_per_field(stack):
    review = fixture_json("glasshouse.json") | {"certificate": "XX", "rating": 7, "runtime_minutes": 0}
    response = stack.submit(json.dumps(review).encode())
    assert response.status_code == 202, response.text
    record = stack.wait_for(response.json()["id"])
    assert record["state"] == "rejected"
    by_field = {e["field"]: e["message"] for e in record["errors"]}
    assert set(by_field) == {"certificate", "rating", "runtime_minutes"}
    assert "BBFC" in by_field["certificate"] and "0 to 5" in by_field["rating"]
    assert "between 1 and 600" in by_field["runtime_minutes"]
    [event] = stack.events("review.rejected", response.json()["id"])
    assert event["data"]["errors"] == record["errors"]  # one shape for errors: the status API's
    assert event["data"]["revision"] is None and event["data"]["manifest_url"] is None
    assert "urls" not in record or not record["urls"].get("manifest")


def test_a_stage_run_again_after_publication_changes_nothing(local_stack):
    from celery import Celery

    response = local_stack.submit(fixture_bytes("glasshouse.json").replace(b"Glasshouse", b"Glasshouse Two"))
    submission_id = response.json()["id"]
    assert local_stack.wait_for(submission_id)["state"] == "published"
    page = local_stack.client.get("/site/reviews/glasshouse-two-2025/index.html").content

    sender = Celery(broker=local_stack.env["MARQUEE_REDIS_URL"])
    sent = [
        sender.send_task(task_name(task), args=[submission_id], queue=task).id
        for task in ("validate", "render", "social", "upload", "notify")
    ]

    def all_ran() -> bool:
        logs = "".join(path.read_text(errors="replace") for path in local_stack.dir.glob("worker-*.log"))
        return all(f"[{task_id}] succeeded" in logs for task_id in sent)

    poll(all_ran, timeout=30, what="every stage to run again")
    record = local_stack.status(submission_id)
    assert record["state"] == "published"
    assert [h["state"] for h in record["history"]].count("published") == 1
    assert len(local_stack.events("review.published", submission_id)) == 1
    assert local_stack.client.get("/site/reviews/glasshouse-two-2025/index.html").content == page
