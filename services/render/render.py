"""The render task: the validated review becomes ``index.html`` and ``review.json``."""

from __future__ import annotations

import json

from services.render.article import public_review, render_article
from shared.broker.celery_app import app
from shared.keys import output_key, published_key
from shared.models import State
from shared.pipeline import StageTask, get_runtime, hand_off, should_hand_off
from shared.queues import task_name


@app.task(name=task_name("render"), base=StageTask)
def render(submission_id: str) -> None:
    rt = get_runtime()
    page_key = output_key(submission_id, "index.html")
    if rt.archive.head(page_key) is None:
        review = rt.load_review(submission_id)
        article_url = rt.public_url(published_key(review.slug, "index.html"))
        data = public_review(review, article_url=article_url)
        rt.archive.put(
            output_key(submission_id, "review.json"),
            json.dumps(data, ensure_ascii=False, indent=2).encode(),
            content_type="application/json",
        )
        # The page is written last: its presence means this stage's work is whole.
        # The Instagram card (made by the social stage) is the page's share image.
        image_url = rt.public_url(published_key(review.slug, "instagram/card.jpg"))
        html = render_article(review, article_url=article_url, image_url=image_url)
        rt.archive.put(page_key, html.encode(), content_type="text/html; charset=utf-8")
    if should_hand_off(rt.states.advance(submission_id, State.RENDERED, stage="render"), State.RENDERED):
        hand_off("social", submission_id)
