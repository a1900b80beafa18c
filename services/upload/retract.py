"""The retract task: withdraw a submission, touching only what is its own.

- The live revision (the manifest at its slug is this submission's): the manifest goes
  first, so no consumer is pointed at assets about to vanish; then the review leaves the
  index and feeds, and every object under ``reviews/<slug>/`` (stable keys and every
  revision's) goes.
- A scheduled revision: only its schedule is cancelled; the live revision stays.
- Anything else (a revision another one replaced meanwhile): nothing public changes.

Under the slug's lease, so an upload or an embargo's release cannot interleave: the
archive's marker, written first, is what upload re-checks under the same lease. The
archive keeps everything the writer sent.
"""

from __future__ import annotations

import json
import logging

from services.upload.catalogue_store import remove_from_catalogue
from shared.broker.celery_app import app
from shared.envelope import envelope, revision_manifest_url
from shared.errors import ObjectNotFound
from shared.keys import MANIFEST, published_key, retracted_key
from shared.models import Manifest, State
from shared.pipeline import Runtime, StageTask, get_runtime
from shared.queues import task_name
from shared.state import now_iso

log = logging.getLogger("marquee.retract")


@app.task(name=task_name("retract"), base=StageTask)
def retract(submission_id: str) -> None:
    rt = get_runtime()
    review = rt.load_review(submission_id)
    with rt.slug_lease(review.slug):
        rt.states.unschedule(submission_id)
        # Recorded in the archive first: reconcile, working from the archive alone after
        # Redis lost its data, must not publish a withdrawn review again; nor may an upload
        # that takes the lease after this one.
        marker = {"id": submission_id, "slug": review.slug, "retracted_at": now_iso()}
        if rt.archive.head(retracted_key(submission_id)) is None:
            rt.archive.put(retracted_key(submission_id), json.dumps(marker).encode(), content_type="application/json")
        removed = unpublish(rt, submission_id, review.slug)
    log.info(json.dumps({"event": "retract.done", "id": submission_id, "slug": review.slug, "removed": removed}))
    # Names the revision withdrawn (a scheduled one may leave another revision live).
    event = envelope(
        "review.retracted",
        id=submission_id,
        writer=review.writer,
        slug=review.slug,
        revision=review.revision,
        manifest_url=revision_manifest_url(rt.settings.public_base_url, review.slug, review.revision),
        timestamp=now_iso(),
    )
    if rt.states.advance(submission_id, State.RETRACTED, stage="retract", event=event) == State.RETRACTED:
        rt.announce(event)


def unpublish(rt: Runtime, submission_id: str, slug: str) -> int:
    """Remove ``slug`` from every public place if its live revision is ``submission_id``'s;
    the number of objects removed (0 when another submission's revision is live, or none is)."""
    manifest_key = published_key(slug, MANIFEST)
    try:
        manifest = Manifest.model_validate_json(rt.publish.get(manifest_key))
    except ObjectNotFound:
        manifest = None
    if manifest is None or manifest.id != submission_id:
        return 0
    rt.publish.delete(manifest_key)
    # Out of the index and feeds before the page goes, so nothing links to it for long.
    remove_from_catalogue(rt, rt.load_review(submission_id))
    keys = rt.publish.list(published_key(slug, ""))
    for key in keys:
        rt.publish.delete(key)
    return len(keys) + 1
