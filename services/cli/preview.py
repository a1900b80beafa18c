"""``marquee submit --dry-run``: what the pipeline would make of a review, made here, sent nowhere.

``preview_one`` parses one file, checks it against the content rules and writes its article
and teasers under a preview folder (or every problem, and nothing written);
``preview_files`` does it for each file and prints as it goes.

It calls the stages' own pure functions (validate's rules, render's article, social's
teasers), so a preview is what publication would make, byte for byte but for the URLs.
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from services.cli.submitting import DEFAULT_MAX_BODY_BYTES, media_type, progress_bar, wants_progress, write_lines
from services.render.article import public_review, render_article
from services.social.instagram import instagram_files
from services.social.youtube import youtube_files
from services.validate.rules import build_review, check_submission
from shared.content_rules import every_problem
from shared.errors import MalformedSubmission, Problem
from shared.keys import public_url, published_key
from shared.parsing import media_type_problem, parse_submission
from shared.slugs import make_slug


@dataclass
class Preview:
    """What the pipeline would make of one file: the files written, or every problem."""

    path: Path
    problems: list[Problem] = field(default_factory=list)
    would_answer: int | None = None  # the 4xx ingest would answer; None if it would accept it
    slug: str | None = None
    folder: Path | None = None  # the preview of this review, laid out as reviews/<slug>/ is published
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def default_preview_dir() -> Path:
    """A new folder for previews: under the system's temporary folder, never in the checkout."""
    return Path(tempfile.mkdtemp(prefix="marquee-preview-"))


def preview_one(
    path: Path,
    *,
    out: Path,
    writer: str = "preview",
    title: str | None = None,
    now: datetime | None = None,
    max_bytes: int | None = None,
) -> Preview:
    """Read, check and render ``path`` as the pipeline would, with the same functions, and
    write the article and teasers under ``out/reviews/<slug>/``; public URLs in them point
    into ``out`` (``file://``). With any problem, nothing is written."""
    now = now or datetime.now(UTC)
    preview = Preview(path)
    body = path.read_bytes()
    limit = max_bytes or int(os.environ.get("MARQUEE_MAX_BODY_BYTES") or DEFAULT_MAX_BODY_BYTES)
    if len(body) > limit:
        preview.problems = [Problem("body", f"the file is {len(body)} bytes; the limit is {limit}")]
        preview.would_answer = 413
        return preview
    if mismatch := media_type_problem(body, content_type=media_type(path)):
        preview.problems = [mismatch]
        preview.would_answer = 415
        return preview
    try:
        submission = parse_submission(body, content_type=media_type(path), title=title)
    except MalformedSubmission as exc:
        # As ingest answers: every problem, the content rules' on the readable fields included.
        preview.problems = every_problem(exc, now=now)
        preview.would_answer = 400 if exc.readable is None else 422
        return preview
    if problems := check_submission(submission, now=now):
        preview.problems = problems
        return preview

    slug = make_slug(submission.title, submission.year)
    review = build_review(
        submission,
        id=uuid.uuid4().hex,
        writer=writer,
        slug=slug,
        revision=1,
        date_published=submission.publish_at or now,
    )
    base_url = out.resolve().as_uri()

    def url(name: str) -> str:
        return public_url(base_url, published_key(slug, name))

    # As the render and social tasks make them (services/render/render.py and
    # services/social/social.py), all made before anything is written.
    article_url = url("index.html")
    files: dict[str, bytes] = {
        "index.html": render_article(review, article_url=article_url, image_url=url("instagram/card.jpg")).encode(),
        "review.json": json.dumps(
            public_review(review, article_url=article_url), ensure_ascii=False, indent=2
        ).encode(),
    }
    files |= instagram_files(review, article_url=article_url, card_url=url("instagram/card.jpg"))
    files |= youtube_files(review, article_url=article_url, thumbnail_url=url("youtube/thumbnail.jpg"))

    folder = out / published_key(slug, "").rstrip("/")
    for name, data in files.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        preview.files.append(target)
    preview.slug, preview.folder = slug, folder
    preview.notes = _teaser_notes(files)
    if submission.publish_at is not None and submission.publish_at > now:
        preview.notes.append(f"publish_at {submission.publish_at.isoformat()}: it would be held (scheduled) until then")
    if getattr(submission, "replaces", None):
        preview.notes.append(f"it replaces {submission.replaces}: published, it takes that review's slug")
    return preview


def _teaser_notes(files: dict[str, bytes]) -> list[str]:
    """Any platform check a teaser does not meet (the pipeline publishes it all the same)."""
    notes = []
    for marker in ("instagram.json", "youtube.json"):
        try:
            checks = json.loads(files[marker]).get("checks") or {}
        except (KeyError, ValueError, AttributeError):
            continue
        if failed := [name for name, passed in checks.items() if not passed]:
            notes.append(f"{marker.removesuffix('.json')}: checks not met: {', '.join(failed)}")
    return notes


def preview_lines(preview: Preview) -> list[str]:
    if not preview.ok:
        why = (
            f"ingest would answer {preview.would_answer}"
            if preview.would_answer
            else "the validate stage would reject it"
        )
        count = len(preview.problems)
        return [
            f"problems: {count} ({why}); nothing written",
            *(f"  - {p.field}: {p.message}" for p in preview.problems),
        ]
    assert preview.folder is not None
    first, *rest = preview.files
    lines = [f"slug:     {preview.slug}", f"written:  {first}", *(f"          {p}" for p in rest)]
    lines.append(f"open:     {(preview.folder / 'index.html').resolve().as_uri()}")
    lines += [f"note:     {note}" for note in preview.notes]
    return lines


def preview_files(
    files: Sequence[Path], *, out: Path | None = None, writer: str = "preview", title: str | None = None
) -> int:
    """Preview every file under ``out`` (default: a new temporary folder), print each one's
    files or problems; the exit status."""
    made_folder = out is None
    out = out if out is not None else default_preview_dir()
    previews: list[Preview] = []
    made: dict[str, Path] = {}
    with progress_bar(len(files), "previewing", enabled=wants_progress(len(files))) as advance:
        for path in files:
            preview = preview_one(path, out=out, writer=writer, title=title)
            previews.append(preview)
            lines = preview_lines(preview)
            if preview.slug in made:
                lines.append(
                    f"note:     same slug as {made[preview.slug]}, whose preview this replaces; "
                    "published, it would be a new revision of that review"
                )
            if preview.slug:
                made[preview.slug] = path
            write_lines(lines, err=not preview.ok, name=str(path))
            advance()
    good = sum(p.ok for p in previews)
    if made_folder and not good:
        out.rmdir()  # the new folder would stay empty
    where = f" Preview: {out}" if good else ""
    write_lines(
        [
            (
                f"{len(previews)} file{'s' if len(previews) != 1 else ''}: {good} ready, "
                f"{len(previews) - good} with problems; nothing was sent.{where}"
            )
        ]
    )
    return 0 if good == len(previews) else 1
