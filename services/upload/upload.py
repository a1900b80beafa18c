"""The upload task: publish a review's revision, then switch its manifest to it.

Under the slug's lease (one writer of a slug at a time), it re-checks that the review was
not withdrawn and that no later revision is public, copies the assets to the revision's
immutable keys, refreshes the stable keys, and writes the manifest last: the switch.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from services.upload.catalogue_store import add_to_catalogue
from services.upload.publishing import (
    ASSET_CACHE_CONTROL,
    IMMUTABLE_CACHE_CONTROL,
    MANIFEST_CACHE_CONTROL,
    build_manifest,
    describe_asset,
    needs_upload,
)
from services.upload.revisions import keep_revisions
from services.upload.superseded import live_manifest, supersede
from shared.broker.celery_app import app
from shared.envelope import published_urls
from shared.errors import ObjectNotFound
from shared.keys import MANIFEST, content_type_for, output_prefix, published_key, retracted_key, revision_key
from shared.models import Review, State
from shared.pipeline import Runtime, StageTask, get_runtime, hand_off, should_hand_off
from shared.queues import task_name
from shared.storage import ObjectInfo, Store

log = logging.getLogger("marquee.upload")


@app.task(name=task_name("upload"), base=StageTask)
def upload(submission_id: str) -> None:
    rt = get_runtime()
    review = rt.load_review(submission_id)
    if withdrawn(rt, submission_id):
        return  # withdrawn while it waited: nothing may become public
    if review.publish_at and review.publish_at > datetime.now(UTC):
        rt.states.schedule(submission_id, at=review.publish_at)
        return  # the release task hands it back once the embargo lifts
    with rt.slug_lease(review.slug):
        # Checked again under the lease: a withdrawal, or a later revision, may have got there first.
        if withdrawn(rt, submission_id):
            return
        live = live_manifest(rt, review.slug)
        later = live if live is not None and live.revision > review.revision else None
        if later is None:
            publish_revision(rt, submission_id, review)
            # Still under the lease: record when it went live, and drop revisions retention no longer keeps.
            keep_revisions(rt, review.slug, revision=review.revision, id=submission_id)
    if later is not None:
        # A later revision is public (this one was slow, or is a replay): leave it be.
        log.info(json.dumps({"event": "upload.superseded", "id": submission_id, "revision": review.revision}))
        supersede(rt, submission_id, review, later)
        return
    _done(rt, submission_id, review.slug)


def withdrawn(rt: Runtime, submission_id: str) -> bool:
    """Withdrawn by its writer: the state says so, or the archive's marker (written first,
    under the slug's lease, by the retract task) does."""
    if rt.states.state_of(submission_id) == State.RETRACTED:
        return True
    return rt.archive.head(retracted_key(submission_id)) is not None


def publish_revision(rt: Runtime, submission_id: str, review: Review) -> None:
    """The revision's immutable copies, then the stable keys, then the manifest (the switch),
    then the site's index and feeds. Copies go store to store (a hard link between
    directories, a server-side copy between buckets): no bytes pass through the worker."""
    slug, prefix = review.slug, output_prefix(submission_id) + "/"
    outputs = [(key, key.removeprefix(prefix), archived_info(rt.archive, key)) for key in rt.archive.list(prefix)]
    assets, sent = [], 0
    for key, name, info in outputs:
        asset = describe_asset(name, info, slug=slug, revision=review.revision, base_url=rt.settings.public_base_url)
        sent += _copy(rt, key, asset.key, info, cache_control=IMMUTABLE_CACHE_CONTROL)
        assets.append(asset)
    for key, name, info in outputs:
        sent += _copy(rt, key, published_key(slug, name), info, cache_control=ASSET_CACHE_CONTROL)

    manifest = build_manifest(review, assets).model_dump_json(indent=2).encode()
    # The revision keeps its own manifest (for rollback); then the switch, written only once
    # every asset it names is in place, so a consumer that sees it sees the whole revision.
    for key, cache_control in (
        (revision_key(slug, review.revision, MANIFEST), IMMUTABLE_CACHE_CONTROL),
        (published_key(slug, MANIFEST), MANIFEST_CACHE_CONTROL),
    ):
        if needs_upload(ObjectInfo.of(manifest), rt.publish.head(key)):
            rt.publish.put(key, manifest, content_type=content_type_for(MANIFEST), cache_control=cache_control)
            sent += 1
    skipped = 2 * len(outputs) + 2 - sent
    log.info(json.dumps({"event": "upload.done", "id": submission_id, "sent": sent, "skipped": skipped}))
    # Then the site's index and feeds list it: a bounded number of objects, after the manifest.
    add_to_catalogue(rt, review, assets)


def _copy(rt: Runtime, source: str, target: str, info: ObjectInfo, *, cache_control: str) -> int:
    """Copy an archived output to the publish store unless the same bytes are there; 1 if copied."""
    if not needs_upload(info, rt.publish.head(target)):
        return 0
    rt.publish.copy(
        rt.archive,
        source,
        target,
        content_type=content_type_for(target),
        cache_control=cache_control,
        sha256=info.sha256,
    )
    return 1


def archived_info(archive: Store, key: str) -> ObjectInfo:
    """An archived output's size and hash: from the store where it keeps them (S3 keeps the
    hash Marquee sent with the object), else from the bytes."""
    info = archive.head(key)
    if info is None:
        raise ObjectNotFound(key)  # listed a moment ago, gone now: as get() would say
    return info if info.sha256 is not None else ObjectInfo.of(archive.get(key))


def _done(rt: Runtime, submission_id: str, slug: str) -> None:
    urls = json.dumps(published_urls(rt.settings.public_base_url, slug))
    current = rt.states.advance(submission_id, State.UPLOADED, stage="upload", urls=urls)
    if should_hand_off(current, State.UPLOADED):
        hand_off("notify", submission_id)
