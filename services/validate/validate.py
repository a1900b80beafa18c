"""The validate task: read the archived request, apply the content rules, place the review."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from services.validate.rules import build_review, check_submission
from shared.broker.celery_app import app
from shared.content_rules import every_problem
from shared.envelope import revision_manifest_url
from shared.errors import ContentError, MalformedSubmission, Problem, ReviewRejected, TransientError
from shared.keys import is_submission_id, request_key, review_key
from shared.models import ReviewSubmission, State
from shared.parsing import parse_submission
from shared.pipeline import Runtime, StageTask, get_runtime, hand_off, should_hand_off
from shared.queues import task_name
from shared.slugs import make_slug, slug_owner, slug_writer


@app.task(name=task_name("validate"), base=StageTask)
def validate(submission_id: str) -> None:
    rt = get_runtime()
    if rt.archive.head(review_key(submission_id)) is None:
        request = json.loads(rt.archive.get(request_key(submission_id)))
        writer = request["writer"]
        body = request["body"].encode()
        now = datetime.now(UTC)
        try:
            submission = parse_submission(body, content_type=request["content_type"], title=request.get("title"))
            # Every problem at once: the content rules' and the revision's, before anything is claimed.
            earlier = _earlier_slug(rt, submission, writer=writer)
            if problems := check_submission(submission, now=now) + _revision_problems(
                rt, submission, earlier, writer=writer
            ):
                raise ReviewRejected(problems)
            slug = earlier or _claim(rt, submission, writer=writer)
        except ContentError as exc:
            problems = every_problem(exc, now=now) if isinstance(exc, MalformedSubmission) else exc.problems
            state, event = rt.states.reject(submission_id, problems, writer=writer)
            if state == State.REJECTED:
                rt.announce(event)
            return
        when = submission.publish_at or datetime.now(UTC)
        revision = rt.states.next_revision(slug, published=rt.published_revision(slug))
        first = rt.states.first_published(slug, candidate=when.isoformat())
        review = build_review(
            submission,
            id=submission_id,
            writer=writer,
            slug=slug,
            revision=revision,
            date_published=datetime.fromisoformat(first),
            date_modified=when,
        )
        rt.archive.put(review_key(submission_id), review.model_dump_json().encode(), content_type="application/json")
    else:
        review = rt.load_review(submission_id)
    # The revision and its manifest's address, recorded now so that every later event
    # (a failure too) can name them without reading the archive.
    state = rt.states.advance(
        submission_id,
        State.VALIDATED,
        stage="validate",
        slug=review.slug,
        revision=str(review.revision),
        manifest_url=revision_manifest_url(rt.settings.public_base_url, review.slug, review.revision),
    )
    if should_hand_off(state, State.VALIDATED):
        hand_off("render", submission_id)


def _earlier_slug(rt: Runtime, submission: ReviewSubmission, *, writer: str) -> str | None:
    """The slug of the earlier submission this one ``replaces``, if it names one of this
    writer's that has a slug; None otherwise."""
    if submission.replaces is None:
        return None
    earlier = rt.states.get(submission.replaces) if is_submission_id(submission.replaces) else None
    # Another writer's id gets the same answer as no id at all: nothing to learn here.
    if earlier is None or earlier["writer"] != writer or not earlier.get("slug"):
        return None
    return earlier["slug"]


def _revision_problems(rt: Runtime, submission: ReviewSubmission, earlier: str | None, *, writer: str) -> list[Problem]:
    if submission.replaces is None:
        return []
    if earlier is None:
        return [Problem("replaces", f"you have no published review with the id {submission.replaces[:40]!r}")]
    holder = rt.states.slug_owner(earlier)
    if holder is not None and slug_writer(holder) != writer:
        # Only a slug handed out before every claim was checked can be another's: never
        # write over their pages, whatever the earlier submission says.
        return [Problem("replaces", f"the slug of {submission.replaces[:40]!r} belongs to another writer")]
    return []


def _claim(rt: Runtime, submission: ReviewSubmission, *, writer: str) -> str:
    """The slug a new review is published at: its own, claimed for good."""
    # The same writer reviewing the same film again is a revision at the same slug;
    # anyone else reviewing a film of that name gets a slug of their own (shared/slugs.py
    # says how another's slug is kept out of reach).
    owner = slug_owner(writer, submission.title, submission.year)
    slug = rt.states.place_slug(make_slug(submission.title, submission.year), owner=owner)
    if slug is None:  # every random suffix drawn was taken: not this review's fault; try again later
        raise TransientError(f"no free slug for {make_slug(submission.title, submission.year)!r} yet")
    return slug
