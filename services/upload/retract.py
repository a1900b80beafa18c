"""The retract task: withdraw a published review from every public place.

The manifest goes first, so no consumer is ever pointed at assets that are about to
vanish; then the assets it listed. The archive keeps everything the writer sent.
"""

from __future__ import annotations

import json
import logging

from services.upload.catalogue_store import remove_from_catalogue
from shared.broker.celery_app import app
from shared.errors import ObjectNotFound
from shared.keys import MANIFEST, published_key, retracted_key
from shared.models import Manifest, State
from shared.pipeline import StageTask, get_runtime
from shared.queues import task_name
from shared.state import now_iso

log = logging.getLogger("marquee.retract")


@app.task(name=task_name("retract"), base=StageTask)
def retract(submission_id: str) -> None:
    rt = get_runtime()
    review = rt.load_review(submission_id)
    rt.states.unschedule(submission_id)
    # Recorded in the archive first: reconcile, working from the archive alone after
    # Redis lost its data, must not publish a withdrawn review again.
    marker = {"id": submission_id, "slug": review.slug, "retracted_at": now_iso()}
    if rt.archive.head(retracted_key(submission_id)) is None:
        rt.archive.put(retracted_key(submission_id), json.dumps(marker).encode(), content_type="application/json")
    manifest_key = published_key(review.slug, MANIFEST)
    try:
        manifest = Manifest.model_validate_json(rt.publish.get(manifest_key))
    except ObjectNotFound:
        manifest = None  # never published (embargoed), or a run before this one removed it
    # Out of the index and feeds first, so nothing links to a page about to go.
    remove_from_catalogue(rt, review)
    if manifest is not None:
        rt.publish.delete(manifest_key)
        for asset in manifest.assets:
            rt.publish.delete(asset.key)
    log.info(
        json.dumps(
            {
                "event": "retract.done",
                "id": submission_id,
                "slug": review.slug,
                "removed": 0 if manifest is None else len(manifest.assets) + 1,
            }
        )
    )
    event = {
        "type": "review.retracted",
        "id": submission_id,
        "writer": review.writer,
        "slug": review.slug,
        "at": now_iso(),
    }
    if rt.states.advance(submission_id, State.RETRACTED, stage="retract", event=event) == State.RETRACTED:
        rt.announce(event)
