"""A published review gets its teaser video afterwards, through the real stack: redis-server,
a celery worker per queue (the video's among them), moto's S3 over HTTP.

The article is published as before, without waiting for the video; then the video's own
manifest appears under the revision, listing every file with its hash, after the files it
lists; the revision's manifest is not touched; ``review.video_ready`` is appended (and held
to its schema when the stack stops)."""

from __future__ import annotations

import hashlib
import json
import re
import shutil

import httpx
import pytest

from tests.conftest import fixture_bytes
from tests.support.processes import Stack, poll

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng (make test installs it)"),
]


@pytest.fixture(scope="module")
def video_stack(tmp_path_factory, redis_server, moto):
    moto.create_bucket("video-archive")
    moto.create_bucket("video-publish", public_read=True)
    stack = Stack(
        tmp_path_factory.mktemp("video-stack"),
        redis_url=redis_server.url.replace("/0", "/5"),
        archive_url="s3://video-archive/v1",
        publish_url="s3://video-publish",
        public_base_url=f"{moto.endpoint}/video-publish",
        extra_env={**moto.env(), "MARQUEE_VIDEO_ENABLED": "1"},
    )
    yield stack.start()
    stack.stop()


def fetch(url: str) -> httpx.Response | None:
    response = httpx.get(url, timeout=10)
    return response if response.status_code == 200 else None


def test_a_published_review_gets_its_video_after_publication(video_stack):
    response = video_stack.submit(fixture_bytes("glasshouse.json"))
    assert response.status_code == 202, response.text
    id_ = response.json()["id"]
    record = video_stack.wait_for(id_)
    assert record["state"] == "published", record["errors"]
    manifest_url = record["urls"]["manifest"]
    revision_manifest = httpx.get(manifest_url, timeout=10).content
    manifest = json.loads(revision_manifest)
    assert not any("/video/" in asset["key"] for asset in manifest["assets"])  # the article did not wait

    video_manifest_url = manifest_url.replace("/manifest.json", f"/r/{manifest['revision']}/video/manifest.json")
    found = poll(lambda: fetch(video_manifest_url), timeout=90, what="the video's manifest")
    video = found.json()
    assert (video["id"], video["slug"], video["revision"]) == (id_, manifest["slug"], manifest["revision"])
    names = [asset["key"].rsplit("/", 1)[1] for asset in video["assets"]]
    assert names == [
        "video.mp4",
        "cover.jpg",
        "captions.vtt",
        "captions.srt",
        "youtube-teaser.json",
        "instagram-post.json",
    ]
    files = {}
    for asset, name in zip(video["assets"], names, strict=True):
        got = httpx.get(asset["url"], timeout=10)
        assert got.status_code == 200, asset["url"]
        assert hashlib.sha256(got.content).hexdigest() == asset["sha256"] and len(got.content) == asset["bytes"]
        assert got.headers["content-type"].split(";")[0] == asset["content_type"].split(";")[0]
        files[name] = got.content
    assert files["video.mp4"][4:8] == b"ftyp" and 15 <= video["duration"] <= 60
    assert files["captions.vtt"].startswith(b"WEBVTT")
    for name in ("youtube-teaser.json", "instagram-post.json"):
        block = json.loads(files[name])["video"]
        assert block["video"]["sha256"] == video["video"]["sha256"] and block["video"]["url"] == video["video"]["url"]

    # the revision's own manifest is byte for byte what it was; the pointer names the video's
    assert httpx.get(manifest_url, timeout=10).content == revision_manifest
    pointer = httpx.get(manifest_url.replace("/manifest.json", "/video.json"), timeout=10).json()
    assert pointer == {"revision": manifest["revision"], "manifest_url": video_manifest_url}

    [event] = poll(lambda: video_stack.events("review.video_ready", id_), timeout=10, what="review.video_ready")
    # notify recorded the video as owed, and publishing it settled the debt: nothing left to sweep.
    owed = video_stack.redis.hgetall(f"marquee:video:{id_}")
    assert owed["state"] in ("pending", "done"), owed  # recorded by notify, before the hand-off
    poll(lambda: video_stack.redis.hget(f"marquee:video:{id_}", "state") == "done", timeout=10, what="video done")
    assert video_stack.redis.zscore("marquee:videos:pending", id_) is None
    assert event["data"]["video_manifest_url"] == video_manifest_url
    assert event["data"]["video_url"] == video["video"]["url"]
    assert event["data"]["manifest_url"].endswith(f"/r/{manifest['revision']}/manifest.json")

    # a message delivered again makes nothing new and appends no second event
    log = video_stack.dir / "worker-upload.log"

    def published_times() -> int:
        return len(re.findall(r"marquee\.publish_video\[[^\]]+\] succeeded", log.read_text(errors="replace")))

    before = published_times()
    sent = video_stack.python(f"from shared.pipeline import hand_off; hand_off('video', {id_!r})")
    assert sent.returncode == 0, sent.stderr
    poll(lambda: published_times() > before, timeout=60, what="the repeated video message to be handled")
    assert httpx.get(video_manifest_url, timeout=10).content == found.content
    assert len(video_stack.events("review.video_ready", id_)) == 1


def test_make_runs_site_serves_the_video_so_a_browser_can_play_it(tmp_path_factory, redis_server):
    """As `make run` lays it out (local stores, the publish store served at /site/): the
    pointer leads to an MP4 served as video/mp4, with byte ranges, which browsers seek with."""
    root = tmp_path_factory.mktemp("video-local")
    stack = Stack(
        root,
        redis_url=redis_server.url.replace("/0", "/6"),
        archive_url=f"file://{root}/archive",
        publish_url=str(root / "publish"),
        extra_env={"MARQUEE_VIDEO_ENABLED": "1"},
    ).start()
    try:
        response = stack.submit(fixture_bytes("glasshouse.json"))
        record = stack.wait_for(response.json()["id"])
        assert record["state"] == "published", record["errors"]
        assert record["urls"]["manifest"].startswith(f"{stack.url}/site/")
        pointer_url = record["urls"]["manifest"].replace("/manifest.json", "/video.json")
        pointer = poll(lambda: fetch(pointer_url), timeout=90, what="the video pointer").json()
        video_url = httpx.get(pointer["manifest_url"], timeout=10).json()["video"]["url"]
        whole = httpx.get(video_url, timeout=10)
        assert whole.status_code == 200 and whole.headers["content-type"] == "video/mp4"
        part = httpx.get(video_url, headers={"range": "bytes=0-1023"}, timeout=10)
        assert part.status_code == 206 and part.content == whole.content[:1024]
    finally:
        stack.stop()
