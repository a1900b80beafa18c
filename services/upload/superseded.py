"""A revision that reaches upload after a later one went public: it is superseded.

It publishes nothing (the public revision never goes backwards) and ends in the final
state ``superseded`` with a ``review.superseded`` event naming the live revision, so no
one is told it was published, nor pointed at another revision's manifest as if it were
its own.
"""

from __future__ import annotations

from shared.envelope import envelope, revision_manifest_url
from shared.errors import ObjectNotFound
from shared.keys import MANIFEST, published_key
from shared.models import Manifest, Review, State
from shared.pipeline import Runtime
from shared.state import now_iso


def live_manifest(rt: Runtime, slug: str) -> Manifest | None:
    """The manifest of the revision now public at ``slug``; None if none is."""
    try:
        return Manifest.model_validate_json(rt.publish.get(published_key(slug, MANIFEST)))
    except ObjectNotFound:
        return None


def supersede(rt: Runtime, submission_id: str, review: Review, live: Manifest) -> None:
    """End ``submission_id`` superseded by ``live``, and tell whoever listens, once."""
    base = rt.settings.public_base_url
    event = envelope(
        "review.superseded",
        id=submission_id,
        writer=review.writer,
        slug=review.slug,
        revision=review.revision,
        # Where this revision's manifest would be: never written, as the revision was not published.
        manifest_url=revision_manifest_url(base, review.slug, review.revision),
        timestamp=now_iso(),
        superseded_by={
            "id": live.id,
            "revision": live.revision,
            "manifest_url": revision_manifest_url(base, review.slug, live.revision),
        },
    )
    state = rt.states.advance(submission_id, State.SUPERSEDED, stage="upload", event=event, superseded_by=live.id)
    if state == State.SUPERSEDED:
        rt.announce(event)
