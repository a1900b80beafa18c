"""The one shape of every event, in the Redis stream and in outbound webhooks alike.

::

    {"schema_version": 1, "type": "review.published", "timestamp": "…Z",
     "data": {"id", "writer", "slug", "revision", "manifest_url", …the type's own fields}}

A webhook's body is this envelope; a ``marquee:events`` entry holds its JSON in the field
``event`` (beside ``type`` and ``id``, so a reader can filter without parsing). The JSON
Schema of each type is published in docs/schemas/, and the tests hold every event emitted
to it. Within a schema version fields are only added; renaming or removing one, or
changing its meaning, is a new ``schema_version``.

On the ground floor of ``shared/``: the state script appends events, so this must not
import anything above it.
"""

from __future__ import annotations

import json
from typing import Any

from shared.keys import MANIFEST, public_url, published_key, revision_key

SCHEMA_VERSION = 1
EVENT_TYPES = frozenset(
    {
        "review.published",
        "review.rejected",
        "review.failed",
        "review.retracted",
        "review.superseded",
        "review.rolled_back",
        "review.video_ready",
    }
)
STREAM_FIELD = "event"  # the entry's field holding the envelope's JSON


def envelope(
    type_: str,
    *,
    id: str,
    writer: str,
    slug: str | None,
    revision: int | None,
    manifest_url: str | None,
    timestamp: str,
    **fields: Any,
) -> dict[str, Any]:
    """An event of ``type_`` about submission ``id``; ``fields`` are the type's own."""
    if type_ not in EVENT_TYPES:
        raise ValueError(f"not an event type: {type_!r}")
    data = {"id": id, "writer": writer, "slug": slug, "revision": revision, "manifest_url": manifest_url}
    return {"schema_version": SCHEMA_VERSION, "type": type_, "timestamp": timestamp, "data": data | fields}


def revision_manifest_url(base_url: str, slug: str, revision: int) -> str:
    """The public address of revision ``revision``'s own manifest: immutable once written,
    so an event naming it stays true whatever is published after."""
    return public_url(base_url, revision_key(slug, revision, MANIFEST))


def published_urls(base_url: str, slug: str) -> dict[str, str]:
    """The stable public addresses of the review at ``slug`` (whichever revision is live),
    as a writer's status and ``review.published`` give them."""
    return {
        "article": public_url(base_url, published_key(slug, "index.html")),
        "manifest": public_url(base_url, published_key(slug, MANIFEST)),
        "review": public_url(base_url, published_key(slug, "review.json")),
    }


def dumps(event: dict[str, Any]) -> str:
    """The envelope's JSON, as the stream stores it and a webhook sends it (UTF-8, not escaped)."""
    return json.dumps(event, ensure_ascii=False)


def from_stream(fields: dict[str, str]) -> dict[str, Any]:
    """The envelope of a ``marquee:events`` entry (its decoded fields)."""
    return json.loads(fields[STREAM_FIELD])
