"""The validate task: read the archived request, apply the content rules, name the slug."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from services.validate.rules import build_review, check_submission
from shared.celery_app import app
from shared.errors import ContentError, ReviewRejected
from shared.keys import body_key, request_key, review_key
from shared.models import State
from shared.parsing import parse_submission
from shared.queues import task_name
from shared.slugs import disambiguate, make_slug
from shared.stage import Runtime, StageTask, get_runtime, hand_off, should_hand_off


@app.task(name=task_name("validate"), base=StageTask)
def validate(submission_id: str) -> None:
    rt = get_runtime()
    if rt.archive.head(review_key(submission_id)) is None:
        request = json.loads(rt.archive.get(request_key(submission_id)))
        body = rt.archive.get(body_key(submission_id))
        try:
            submission = parse_submission(body, content_type=request["content_type"], title=request.get("title"))
            if problems := check_submission(submission, now=datetime.now(UTC)):
                raise ReviewRejected(problems)
        except ContentError as exc:
            state, event = rt.states.reject(submission_id, exc.problems, writer=request["writer"])
            if state == State.REJECTED:
                rt.announce(event)
            return
        slug = _claim_slug(rt, writer=request["writer"], title=submission.title, year=submission.year)
        review = build_review(
            submission,
            id=submission_id,
            writer=request["writer"],
            slug=slug,
            revision=rt.states.next_revision(slug),
            date_published=submission.publish_at or datetime.now(UTC),
        )
        rt.archive.put(review_key(submission_id), review.model_dump_json().encode(), content_type="application/json")
    else:
        review = rt.load_review(submission_id)
    if should_hand_off(rt.states.advance(submission_id, State.VALIDATED, stage="validate", slug=review.slug), State.VALIDATED):
        hand_off("render", submission_id)


def _claim_slug(rt: Runtime, *, writer: str, title: str, year: int | None) -> str:
    # The same writer reviewing the same film again is a revision at the same slug;
    # anyone else reviewing a film of that name gets a stable slug of their own.
    owner = f"{writer}\n{title.casefold()}\n{year or ''}"
    slug = make_slug(title, year)
    if rt.states.claim_slug(slug, owner=owner):
        return slug
    slug = disambiguate(slug, owner=owner)
    rt.states.claim_slug(slug, owner=owner)
    return slug
