"""The rollback task: make a kept revision of a review live again, through the same switch.

An operator's command (``marquee rollback SLUG --to N``) sends it with the slug, the
revision, and the revision that was live when it checked. Under the slug's lease it
checks again (the revision is kept, complete and not withdrawn; the live revision is
still the one the operator saw, so a publication that landed since is never undone),
then copies the revision's own files to the stable keys and writes its own manifest,
byte for byte, as the live one: the switch. The index and feeds then show that
revision, the revision log records it, both submissions' histories note it, and
``review.rolled_back`` is announced.
"""

from __future__ import annotations

import json
import logging

from services.upload.catalogue_store import add_to_catalogue
from services.upload.publishing import ASSET_CACHE_CONTROL, MANIFEST_CACHE_CONTROL, needs_upload
from services.upload.revisions import RollbackPlan, RollbackRefused, plan_rollback, read_manifest, record_live
from shared.broker.celery_app import app
from shared.envelope import envelope, revision_manifest_url
from shared.keys import MANIFEST, content_type_for, published_key, revision_key
from shared.pipeline import Runtime, StageTask, get_runtime
from shared.queues import task_name
from shared.state import now_iso
from shared.storage import ObjectInfo

log = logging.getLogger("marquee.rollback")


# Not a StageTask: its message names a slug, not a submission, so a rollback that gives up
# marks no submission failed (the command's --wait says it did not happen). Retried alike.
@app.task(name=task_name("rollback"), autoretry_for=StageTask.autoretry_for, retry_backoff=True, retry_jitter=True)
def rollback(slug: str, revision: int, live: int) -> None:
    rt = get_runtime()
    with rt.slug_lease(slug):
        try:
            plan = plan_rollback(rt, slug, revision, live_expected=live)
        except RollbackRefused as refused:
            log.warning(
                json.dumps({"event": "rollback.refused", "slug": slug, "revision": revision, "why": str(refused)})
            )
            return
        # The submission of the revision replaced: the live one, unless this rollback already
        # switched and its message came again.
        replaced = (
            plan.live if plan.live.revision == live else read_manifest(rt.publish, revision_key(slug, live, MANIFEST))
        )
        switch(rt, plan)
        review = rt.load_review(plan.target.id)
        add_to_catalogue(rt, review, plan.target.assets, rollback=True)
        entry = record_live(rt.publish, slug, revision=revision, id=plan.target.id).entry(revision)
    log.info(json.dumps({"event": "rollback.done", "slug": slug, "revision": revision, "from": live}))
    # The switch's own time names it: a message delivered twice notes and appends once, and
    # a later rollback to the same revision is a new one.
    claim = f"{slug}:{revision}:{entry.live_at.isoformat() if entry else live}"
    event = envelope(
        "review.rolled_back",
        id=plan.target.id,
        writer=review.writer,
        slug=slug,
        revision=revision,
        manifest_url=revision_manifest_url(rt.settings.public_base_url, slug, revision),
        timestamp=now_iso(),
        from_revision=live,
        article_url=rt.public_url(published_key(slug, "index.html")),
    )
    rt.states.note(
        plan.target.id, f"live again: rolled back from revision {live}", stage="rollback", claim=claim, event=event
    )
    if replaced is not None and replaced.id != plan.target.id:
        rt.states.note(replaced.id, f"replaced: rolled back to revision {revision}", stage="rollback", claim=claim)
    # Announced on every run: a delivery already recorded for this event is not made twice.
    rt.announce(event)


def switch(rt: Runtime, plan: RollbackPlan) -> int:
    """The revision's own files to the stable keys (store to store, only those that differ),
    then its manifest as the live one, last. The number of objects written."""
    slug, prefix = plan.slug, revision_key(plan.slug, plan.revision, "")
    sent = 0
    for asset in plan.target.assets:
        stable = published_key(slug, asset.key.removeprefix(prefix))
        if needs_upload(ObjectInfo(size=asset.bytes, sha256=asset.sha256), rt.publish.head(stable)):
            rt.publish.copy(
                rt.publish,
                asset.key,
                stable,
                content_type=asset.content_type,
                cache_control=ASSET_CACHE_CONTROL,
                sha256=asset.sha256,
            )
            sent += 1
    live_key = published_key(slug, MANIFEST)
    if needs_upload(ObjectInfo.of(plan.target_bytes), rt.publish.head(live_key)):
        rt.publish.put(
            live_key, plan.target_bytes, content_type=content_type_for(MANIFEST), cache_control=MANIFEST_CACHE_CONTROL
        )
        sent += 1
    return sent
