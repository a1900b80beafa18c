"""Publishing a review's assets: pure decisions about what to write, and the manifest."""

from __future__ import annotations

from shared.keys import MANIFEST, content_type_for, published_key
from shared.models import Asset, Manifest, Review
from shared.storage import ObjectInfo

# Assets change with a revision, so caches revalidate within minutes; the manifest,
# the consumers' signal that a review is complete, is never served stale.
ASSET_CACHE_CONTROL = "public, max-age=300"
MANIFEST_CACHE_CONTROL = "no-cache"


def needs_upload(new: ObjectInfo, existing: ObjectInfo | None) -> bool:
    """Compare by checksum, as ``hugo deploy`` does: identical content is not sent again."""
    return existing is None or existing.size != new.size or new.sha256 is None or existing.sha256 != new.sha256


def describe_asset(name: str, info: ObjectInfo, *, slug: str, base_url: str) -> Asset:
    if info.sha256 is None:
        raise ValueError(f"the hash of {name} is not known")  # the manifest promises one
    key = published_key(slug, name)
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
