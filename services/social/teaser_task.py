"""What the two social tasks share: store the teaser, and let the last one hand off.

Upload needs both teasers. Each task records its part in Redis once its output is
stored; whichever sees the set complete hands off, so upload runs once both exist.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from shared.keys import output_key, published_key
from shared.models import Review, State
from shared.queues import SOCIAL_TASKS
from shared.stage import get_runtime, hand_off, should_hand_off


def make_teaser(submission_id: str, *, part: str, build: Callable[..., dict[str, Any]]) -> None:
    rt = get_runtime()
    key = output_key(submission_id, f"{part}.json")
    if rt.archive.head(key) is None:
        review: Review = rt.load_review(submission_id)
        article_url = rt.public_url(published_key(review.slug, "index.html"))
        teaser = build(review, article_url=article_url)
        rt.archive.put(key, json.dumps(teaser, ensure_ascii=False, indent=2).encode(), content_type="application/json")
    if rt.states.mark_social_part(submission_id, part) < len(SOCIAL_TASKS):
        return
    if should_hand_off(rt.states.advance(submission_id, State.SOCIAL_READY, stage="social"), State.SOCIAL_READY):
        hand_off("upload", submission_id)
