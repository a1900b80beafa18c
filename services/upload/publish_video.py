"""The publish_video task: a teaser video joins its published revision, without touching it.

The revision's own files and manifest (``reviews/<slug>/r/<n>/``) are immutable, so the
video does not go into them. It gets its own set beside them, ``r/<n>/video/``: the video,
the cover, the captions and the video-aware ``youtube-teaser.json`` and
``instagram-post.json``, each copied store to store from the archive, and then its own
``manifest.json`` listing them with size, SHA-256 and duration: written last, so a
consumer that sees it sees the whole video. Then ``reviews/<slug>/video.json`` points at
it, if that revision is the live one, and ``review.video_ready`` is announced.

Under the slug's lease, like every writer of public files: a review withdrawn, or a
revision dropped by retention, meanwhile gets no video (its manifest is gone, so the
video would have nothing to join).
"""

from __future__ import annotations

import json
import logging

from services.upload.publishing import IMMUTABLE_CACHE_CONTROL, MANIFEST_CACHE_CONTROL, needs_upload
from services.upload.upload import archived_info, withdrawn
from shared.broker.celery_app import app
from shared.envelope import envelope, revision_manifest_url
from shared.keys import (
    MANIFEST,
    VIDEO_FILES,
    VIDEO_MARKER,
    VIDEO_POINTER,
    content_type_for,
    published_key,
    revision_key,
    video_key,
)
from shared.pipeline import Runtime, StageTask, get_runtime
from shared.queues import task_name
from shared.state import now_iso
from shared.storage import ObjectInfo
from shared.videos import PendingVideos

log = logging.getLogger("marquee.upload")


@app.task(name=task_name("publish_video"), base=StageTask)
def publish_video(submission_id: str) -> None:
    rt = get_runtime()
    review = rt.load_review(submission_id)
    slug, revision = review.slug, review.revision
    with rt.slug_lease(slug):
        if withdrawn(rt, submission_id) or rt.publish.head(revision_key(slug, revision, MANIFEST)) is None:
            log.info(json.dumps({"event": "video.skipped", "id": submission_id, "why": "revision not public"}))
            PendingVideos(rt.states.redis).finish(submission_id, state="done")  # nothing to join: owed no more
            return
        manifest = video_manifest(rt, submission_id, slug=slug, revision=revision)
        data = json.dumps(manifest, indent=2).encode()
        key = revision_key(slug, revision, "video/" + MANIFEST)
        if needs_upload(ObjectInfo.of(data), rt.publish.head(key)):
            rt.publish.put(key, data, content_type=content_type_for(MANIFEST), cache_control=IMMUTABLE_CACHE_CONTROL)
        if rt.published_revision(slug) == revision:
            pointer = json.dumps({"revision": revision, "manifest_url": manifest["manifest_url"]}, indent=2).encode()
            if needs_upload(ObjectInfo.of(pointer), rt.publish.head(published_key(slug, VIDEO_POINTER))):
                rt.publish.put(
                    published_key(slug, VIDEO_POINTER),
                    pointer,
                    content_type=content_type_for(VIDEO_POINTER),
                    cache_control=MANIFEST_CACHE_CONTROL,
                )
    event = envelope(
        "review.video_ready",
        id=submission_id,
        writer=review.writer,
        slug=slug,
        revision=revision,
        manifest_url=revision_manifest_url(rt.settings.public_base_url, slug, revision),
        timestamp=now_iso(),
        video_manifest_url=manifest["manifest_url"],
        video_url=manifest["video"]["url"],
        duration=manifest["duration"],
    )
    # Appended once per revision's video, however often the message comes; announced each time
    # (a delivery already recorded is not made twice).
    claim = f"video:{slug}:{revision}:{manifest['video']['sha256']}"
    rt.states.note(submission_id, "teaser video published", stage="publish_video", claim=claim, event=event)
    rt.announce(event)
    PendingVideos(rt.states.redis).finish(submission_id, state="done")


def video_manifest(rt: Runtime, submission_id: str, *, slug: str, revision: int) -> dict:
    """Copy the video's files to ``r/<n>/video/`` (those not already there) and describe them."""
    made = json.loads(rt.archive.get(video_key(submission_id, VIDEO_MARKER)))
    assets = []
    for name in VIDEO_FILES:
        source, target = video_key(submission_id, name), revision_key(slug, revision, f"video/{name}")
        info = archived_info(rt.archive, source)
        if needs_upload(info, rt.publish.head(target)):
            rt.publish.copy(
                rt.archive,
                source,
                target,
                content_type=content_type_for(name),
                cache_control=IMMUTABLE_CACHE_CONTROL,
                sha256=info.sha256,
            )
        asset = {
            "key": target,
            "sha256": info.sha256,
            "bytes": info.size,
            "content_type": content_type_for(name),
            "url": rt.public_url(target),
        }
        if name in ("video.mp4", "captions.vtt", "captions.srt"):
            asset["duration"] = made["duration"]
        assets.append(asset)
    by_name = dict(zip(VIDEO_FILES, assets, strict=True))
    return {
        "id": submission_id,
        "slug": slug,
        "revision": revision,
        "manifest_url": rt.public_url(revision_key(slug, revision, "video/" + MANIFEST)),
        "revision_manifest_url": revision_manifest_url(rt.settings.public_base_url, slug, revision),
        "duration": made["duration"],
        "video": by_name["video.mp4"],
        "assets": assets,
    }
