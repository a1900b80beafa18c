"""The upload task: copy a review's assets to the publish store, then its manifest."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from services.upload.catalogue_store import add_to_catalogue
from services.upload.publishing import (
    ASSET_CACHE_CONTROL,
    MANIFEST_CACHE_CONTROL,
    build_manifest,
    describe_asset,
    needs_upload,
)
from shared.broker.celery_app import app
from shared.errors import ObjectNotFound
from shared.keys import MANIFEST, content_type_for, output_prefix, published_key
from shared.models import State
from shared.pipeline import Runtime, StageTask, get_runtime, hand_off, should_hand_off
from shared.queues import task_name
from shared.storage import ObjectInfo, Store

log = logging.getLogger("marquee.upload")


@app.task(name=task_name("upload"), base=StageTask)
def upload(submission_id: str) -> None:
    rt = get_runtime()
    review = rt.load_review(submission_id)
    if rt.states.state_of(submission_id) == State.RETRACTED:
        return  # withdrawn while it waited: nothing may become public
    if review.publish_at and review.publish_at > datetime.now(UTC):
        rt.states.schedule(submission_id, at=review.publish_at)
        return  # the release task hands it back once the embargo lifts
    if rt.published_revision(review.slug) > review.revision:
        # A later revision got there first (this one was slow, or is a replay): leave it be.
        log.info(json.dumps({"event": "upload.superseded", "id": submission_id, "revision": review.revision}))
        _done(rt, submission_id, review.slug)
        return
    prefix = output_prefix(submission_id) + "/"
    assets, sent = [], 0
    for key in rt.archive.list(prefix):
        name = key.removeprefix(prefix)
        info = archived_info(rt.archive, key)
        asset = describe_asset(name, info, slug=review.slug, base_url=rt.settings.public_base_url)
        if needs_upload(info, rt.publish.head(asset.key)):
            # Copied store to store: a hard link between directories, a server-side copy
            # between buckets, so the bytes are not downloaded and sent again.
            rt.publish.copy(
                rt.archive,
                key,
                asset.key,
                content_type=asset.content_type,
                cache_control=ASSET_CACHE_CONTROL,
                sha256=info.sha256,
            )
            sent += 1
        assets.append(asset)

    # Written only once every asset it names is in place: a consumer that sees the
    # manifest sees the whole review.
    manifest_key = published_key(review.slug, MANIFEST)
    manifest = build_manifest(review, assets).model_dump_json(indent=2).encode()
    if needs_upload(ObjectInfo.of(manifest), rt.publish.head(manifest_key)):
        rt.publish.put(
            manifest_key, manifest, content_type=content_type_for(MANIFEST), cache_control=MANIFEST_CACHE_CONTROL
        )
        sent += 1
    log.info(json.dumps({"event": "upload.done", "id": submission_id, "sent": sent, "skipped": len(assets) + 1 - sent}))
    # Then the site's index and feeds list it: a bounded number of objects, after the manifest.
    add_to_catalogue(rt, review, assets)

    _done(rt, submission_id, review.slug)


def archived_info(archive: Store, key: str) -> ObjectInfo:
    """An archived output's size and hash: from the store where it keeps them (S3 keeps the
    hash Marquee sent with the object), else from the bytes."""
    info = archive.head(key)
    if info is None:
        raise ObjectNotFound(key)  # listed a moment ago, gone now: as get() would say
    return info if info.sha256 is not None else ObjectInfo.of(archive.get(key))


def _done(rt: Runtime, submission_id: str, slug: str) -> None:
    urls = {
        "article": rt.public_url(published_key(slug, "index.html")),
        "manifest": rt.public_url(published_key(slug, MANIFEST)),
        "review": rt.public_url(published_key(slug, "review.json")),
    }
    current = rt.states.advance(submission_id, State.UPLOADED, stage="upload", urls=json.dumps(urls))
    if should_hand_off(current, State.UPLOADED):
        hand_off("notify", submission_id)
