"""What the two social tasks share: store a teaser's files, and let the last one hand off.

Each part (instagram, youtube) writes its files under the submission's output prefix,
its JSON marker (``<part>.json``) last: the marker's presence means the part is whole,
so a redelivered message skips the work. Upload needs both parts; each task records
its part in Redis once its files are stored, and whichever sees the set complete hands
off, so upload runs once both exist.
"""

from __future__ import annotations

from collections.abc import Callable

from shared.keys import content_type_for, output_key, published_key
from shared.models import Review, State
from shared.queues import SOCIAL_TASKS
from shared.stage import Runtime, get_runtime, hand_off, should_hand_off

# build(review, rt) → {name under the output prefix: bytes}, the marker among them.
Build = Callable[[Review, Runtime], dict[str, bytes]]


def store_part(rt: Runtime, submission_id: str, *, part: str, build: Build) -> bool:
    """Make and store a part's files unless its marker exists; True if work was done."""
    marker = f"{part}.json"
    if rt.archive.head(output_key(submission_id, marker)) is not None:
        return False
    review = rt.load_review(submission_id)
    files = build(review, rt)
    if marker not in files:
        raise ValueError(f"the {part} part made no {marker}")
    for name in [*(n for n in files if n != marker), marker]:
        rt.archive.put(output_key(submission_id, name), files[name], content_type=content_type_for(name))
    return True


def make_teaser(submission_id: str, *, part: str, build: Build) -> None:
    rt = get_runtime()
    store_part(rt, submission_id, part=part, build=build)
    if rt.states.mark_social_part(submission_id, part) < len(SOCIAL_TASKS):
        return
    if should_hand_off(rt.states.advance(submission_id, State.SOCIAL_READY, stage="social"), State.SOCIAL_READY):
        hand_off("upload", submission_id)


def asset_url(rt: Runtime, review: Review, name: str) -> str:
    """Where a published asset of this review will be, e.g. ``instagram/card.jpg``."""
    return rt.public_url(published_key(review.slug, name))
