"""Publishing a review's assets: pure decisions about what to write, and the manifest.

Each revision's assets are written once under keys of their own
(``reviews/<slug>/r/<revision>/…``) and never changed, so any manifest a consumer holds,
old or new, stays true byte for byte. The stable keys (``reviews/<slug>/index.html`` and
the rest) are refreshed after them, for readers and links; the manifest at
``reviews/<slug>/manifest.json`` is written last, the single switch to the new revision.
"""

from __future__ import annotations

from shared.keys import MANIFEST, content_type_for, revision_key
from shared.models import Asset, Manifest, Review
from shared.storage import ObjectInfo

# A revision's own keys never change: cache them for good.
IMMUTABLE_CACHE_CONTROL = "public, max-age=31536000, immutable"
# The stable keys change with a revision, so caches revalidate within minutes; the manifest,
# the consumers' signal that a review is complete, is never served stale.
ASSET_CACHE_CONTROL = "public, max-age=300"
MANIFEST_CACHE_CONTROL = "no-cache"


def needs_upload(new: ObjectInfo, existing: ObjectInfo | None) -> bool:
    """Compare by checksum, as ``hugo deploy`` does: identical content is not sent again."""
    return existing is None or existing.size != new.size or new.sha256 is None or existing.sha256 != new.sha256


def describe_asset(name: str, info: ObjectInfo, *, slug: str, revision: int, base_url: str) -> Asset:
    """The manifest's entry for ``name``: its revision's immutable key, size and hash."""
    if info.sha256 is None:
        raise ValueError(f"the hash of {name} is not known")  # the manifest promises one
    key = revision_key(slug, revision, name)
    return Asset(
        key=key,
        sha256=info.sha256,
        bytes=info.size,
        content_type=content_type_for(name),
        url=f"{base_url.rstrip('/')}/{key}",
    )


def build_manifest(review: Review, assets: list[Asset]) -> Manifest:
    if any(a.key.endswith("/" + MANIFEST) for a in assets):
        raise ValueError("the manifest cannot list itself")
    return Manifest(
        id=review.id,
        slug=review.slug,
        revision=review.revision,
        published_at=review.date_published,
        assets=sorted(assets, key=lambda a: a.key),
    )
