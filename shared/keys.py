"""Where things are kept. Every storage key is built here, from ids and checked slugs only.

Archive (private)::

    submissions/<id>/request.json   who sent what, when (no secrets), and the body as sent
                                    (UTF-8 text, checked at ingest, so a JSON string keeps it
                                    byte for byte); written once, its presence means accepted
    submissions/<id>/review.json    the validated review
    submissions/<id>/out/…          the assets stages made, as they will be published
    submissions/<id>/retracted.json the writer withdrew it (its assets are kept here)
    submissions/<id>/video/…        the video stage's teaser, apart from out/ (published
                                    after the revision, never part of its manifest)

Publish (public)::

    reviews/<slug>/index.html, review.json, instagram.json, youtube.json
    reviews/<slug>/manifest.json    written last: its presence means the review is complete
    reviews/<slug>/r/<n>/…          revision n's own copies, its manifest included
    reviews/<slug>/revisions.json   the revisions kept, and when each went live
    reviews/<slug>/r/<n>/video/…    revision n's teaser video, its own manifest.json last
    reviews/<slug>/video.json       points at the newest live revision's video manifest
"""

from __future__ import annotations

import re

from shared.slugs import is_safe_slug

_ID = re.compile(r"^[0-9a-f]{32}$")

MANIFEST = "manifest.json"

# The social stage's parts: each is whole once its marker, output ``<part>.json``, exists.
SOCIAL_PARTS = ("instagram", "youtube")

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
    ".jpg": "image/jpeg",
    ".png": "image/png",
    ".mp4": "video/mp4",
    ".vtt": "text/vtt; charset=utf-8",
    ".srt": "application/x-subrip; charset=utf-8",
}

# The video stage's files, in the order they are published; its manifest comes after them.
VIDEO_FILES = ("video.mp4", "cover.jpg", "captions.vtt", "captions.srt", "youtube-teaser.json", "instagram-post.json")
VIDEO_MARKER = "video.json"  # in the archive: the teaser is whole (written last)
VIDEO_POINTER = "video.json"  # in the publish store, beside manifest.json


def is_submission_id(value: str) -> bool:
    return bool(_ID.match(value))


def _checked_id(id: str) -> str:
    if not is_submission_id(id):
        raise ValueError(f"not a submission id: {id!r}")
    return id


def request_key(id: str) -> str:
    return f"submissions/{_checked_id(id)}/request.json"


def review_key(id: str) -> str:
    return f"submissions/{_checked_id(id)}/review.json"


def retracted_key(id: str) -> str:
    """Written when a review is withdrawn, so that even a Redis that lost everything knows."""
    return f"submissions/{_checked_id(id)}/retracted.json"


def output_prefix(id: str) -> str:
    return f"submissions/{_checked_id(id)}/out"


def output_key(id: str, name: str) -> str:
    return f"{output_prefix(id)}/{name}"


def video_key(id: str, name: str) -> str:
    return f"submissions/{_checked_id(id)}/video/{name}"


def published_key(slug: str, name: str) -> str:
    if not is_safe_slug(slug):
        raise ValueError(f"unsafe slug {slug!r}")
    return f"reviews/{slug}/{name}"


def revision_key(slug: str, revision: int, name: str) -> str:
    """Where revision ``revision`` of a review keeps ``name`` for good: written once, never
    changed, so any manifest that lists it stays true byte for byte."""
    return published_key(slug, f"r/{revision}/{name}")


def content_type_for(name: str) -> str:
    suffix = name[name.rfind(".") :] if "." in name else ""
    return CONTENT_TYPES.get(suffix, "application/octet-stream")


def public_url(base_url: str, key: str) -> str:
    return f"{base_url.rstrip('/')}/{key}"
