"""What ``marquee submit`` does: find review files, sign and post each, follow them, or
preview them locally without posting.

The pieces are plain functions so that they can be tested on their own:

- ``find_reviews``: the files named, and the ``.json``/``.txt`` files in each folder named;
- ``post_one``: sign one file with the writer's secret and post it (a ``Sent``);
- ``follow_many``: poll every accepted submission round-robin to its final state, with one
  overall deadline;
- ``preview_one``: what the pipeline would make of one file (parse, content rules, article,
  teasers), written under a preview folder, or every problem and nothing written.

``submit_files`` and ``preview_files`` put them together and print as they go; they
return the exit status. Output for a single file keeps the format ``marquee submit``
always had; with several files, each file's lines follow its name, indented.
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import httpx

from shared.errors import MalformedSubmission, Problem
from shared.keys import public_url, published_key
from shared.parsing import parse_submission
from shared.slugs import make_slug
from shared.writers import sign

TERMINAL_STATES = ("published", "rejected", "failed", "retracted")
# --wait stops at a final state, or at "scheduled": an embargoed review is held, unchanged,
# until its publish_at. Published or scheduled is what the writer asked for.
SETTLED_STATES = (*TERMINAL_STATES, "scheduled")
GOOD_STATES = ("published", "scheduled")
RETRY_STATUSES = (429, 503)  # nothing was accepted: send the same webhook again, later
MAX_ATTEMPTS = 5
MAX_RETRY_WAIT = 120.0
REVIEW_SUFFIXES = (".json", ".txt")  # what a folder's reviews are; a file named outright may be any text
PROGRESS_MIN_FILES = 4  # a progress bar for more than a few files, and only on a terminal
DEFAULT_MAX_BODY_BYTES = 1024 * 1024


# --- finding files -------------------------------------------------------------------------


def find_reviews(paths: Iterable[Path]) -> list[Path]:
    """The files to submit: each file named, and each folder's ``.json`` and ``.txt`` files
    (not in subfolders, not hidden), by name; a file named twice is submitted once."""
    found: list[Path] = []
    seen: set[Path] = set()
    for path in paths:
        if path.is_dir():
            candidates = sorted(
                (p for p in path.iterdir()
                 if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in REVIEW_SUFFIXES),
                key=lambda p: p.name,
            )
        elif path.exists():
            candidates = [path]
        else:
            raise FileNotFoundError(f"no such file or folder: {path}")
        for candidate in candidates:
            if (key := candidate.resolve()) not in seen:
                seen.add(key)
                found.append(candidate)
    return found


def media_type(path: Path) -> str:
    """``application/json`` for a ``.json`` file; any other file is a text review."""
    return "application/json" if path.suffix.lower() == ".json" else "text/plain"


# --- what is printed -----------------------------------------------------------------------


def status_lines(record: dict) -> list[str]:
    """A status record as ``marquee status`` prints it."""
    lines = [f"state:    {record['state']}"]
    for error in record.get("errors") or []:
        lines.append(f"  - {error.get('field') or 'error'}: {error['message']}")
    if record.get("scheduled_for") and record.get("state") == "scheduled":
        lines.append(f"until:    {record['scheduled_for']}")
    for name, link in (record.get("urls") or {}).items():
        lines.append(f"{name + ':':9} {link}")
    return lines + timeline_lines(record.get("history") or [])


def timeline_lines(history: list[dict]) -> list[str]:
    """Each stage with the time it reached its state, and how long after the one before."""
    lines, previous = [], None
    for step in history:
        at = datetime.fromisoformat(step["at"].replace("Z", "+00:00"))
        took = "" if previous is None else f"  +{(at - previous).total_seconds():.3f} s"
        lines.append(f"  {at:%H:%M:%S}.{at.microsecond // 1000:03d}  {step['stage']:<9} {step['state']}{took}")
        previous = at
    return ["timeline:", *lines] if lines else []


def problem_lines(status: int, body: Any) -> list[str]:
    """A refusal (an RFC 9457 problem, or whatever the server sent) as ``marquee`` prints it."""
    if not isinstance(body, dict):
        return [f"error {status}: {str(body)[:500]}"]
    lines = [f"error {status}: {body.get('detail', body)}"]
    for error in body.get("errors") or []:
        lines.append(f"  - {error.get('field') or 'error'}: {error.get('message')}")
    return lines


def _write(lines: Sequence[str], *, err: bool = False, name: str | None = None) -> None:
    # sys.stdout/sys.stderr are looked up at each call: a progress bar on a terminal
    # swaps them for proxies that print above the bar.
    stream: TextIO = sys.stderr if err else sys.stdout
    text = [name, *(f"  {line}" for line in lines)] if name is not None else list(lines)
    stream.write("".join(f"{line}\n" for line in text))
    stream.flush()


# --- progress ------------------------------------------------------------------------------


def wants_progress(count: int, stream: TextIO | None = None) -> bool:
    """A bar for more than a few files, and only when it goes to a terminal."""
    stream = stream if stream is not None else sys.stderr
    try:
        return count >= PROGRESS_MIN_FILES and stream.isatty()
    except (AttributeError, ValueError):
        return False


@contextmanager
def progress_bar(total: int, description: str, *, enabled: bool) -> Iterator[Callable[[], None]]:
    """Yield ``advance()``. Drawn by rich on stderr and cleared at the end; while it is up,
    lines printed to stdout on a terminal appear above it. Disabled, it draws nothing."""
    if not enabled or total == 0:
        yield lambda: None
        return
    try:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    except ImportError:  # rich is optional: without it there is simply no bar
        yield lambda: None
        return
    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=Console(stderr=True), transient=True,
        # Only a terminal stdout is redirected above the bar; a pipe or file keeps its own lines.
        redirect_stdout=_isatty(sys.stdout), redirect_stderr=True,
    )
    with progress:
        task = progress.add_task(description, total=total)
        yield lambda: progress.advance(task)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


# --- posting -------------------------------------------------------------------------------


@dataclass
class Sent:
    """One file's submission: its answer, and once followed, its status record."""

    path: Path
    status: int | None = None  # the HTTP status; None if no answer came
    id: str | None = None
    status_url: str | None = None
    refusal: list[str] = field(default_factory=list)  # why it was not accepted, as printed
    record: dict | None = None  # the last status record seen while following

    @property
    def accepted(self) -> bool:
        return self.status == 202 and self.status_url is not None

    @property
    def state(self) -> str:
        if not self.accepted:
            return "refused" if self.status is not None else "not sent"
        return self.record["state"] if self.record else "accepted"

    def succeeded(self, *, waited: bool) -> bool:
        return self.accepted and (not waited or self.state in GOOD_STATES)


def retry_after(response: httpx.Response, *, default: float) -> float:
    """The seconds a 429 or 503 asks for (``Retry-After``, in seconds), within reason."""
    try:
        seconds = float(response.headers.get("retry-after", ""))
    except ValueError:  # absent, or an HTTP date: a short backoff of our own
        seconds = default
    if not math.isfinite(seconds):
        seconds = default
    return min(max(seconds, 0.0), MAX_RETRY_WAIT)


def post_one(
    client: httpx.Client, path: Path, *, base_url: str, writer: str, secret: str, title: str | None = None,
    attempts: int = MAX_ATTEMPTS, sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[Path, int, float], None] | None = None,
) -> Sent:
    """Sign ``path`` with ``secret`` (Standard Webhooks) and post it. On 429 or 503 it waits
    as asked and sends again, up to ``attempts`` in all, with the same webhook-id (so ingest
    can never take it twice) and a fresh timestamp and signature."""
    sent = Sent(path)
    body = path.read_bytes()
    msg_id = f"msg_{uuid.uuid4().hex}"
    content_type = media_type(path)
    for attempt in range(1, attempts + 1):
        try:
            headers = sign(secret, msg_id=msg_id, timestamp=int(time.time()), body=body)
        except UnicodeDecodeError:
            sent.refusal = ["error: not sent: the file is not UTF-8 text; save it as UTF-8"]
            return sent
        headers["content-type"] = content_type if content_type == "application/json" else "text/plain; charset=utf-8"
        try:
            response = client.post(f"{base_url.rstrip('/')}/v1/writers/{writer}/reviews", content=body,
                                   headers=headers, params={"title": title} if title else None)
        except httpx.HTTPError as exc:
            sent.refusal = [f"error: cannot reach {base_url}: {exc}"]
            return sent
        if response.status_code not in RETRY_STATUSES or attempt == attempts:
            break
        wait = retry_after(response, default=min(2.0**attempt, 30.0))
        if on_retry:
            on_retry(path, response.status_code, wait)
        sleep(wait)
    sent.status = response.status_code
    try:
        answer = response.json()
    except ValueError:
        answer = response.text
    if response.status_code == 202 and isinstance(answer, dict) and "status_url" in answer:
        sent.id, sent.status_url = answer.get("id"), answer["status_url"]
    else:
        sent.refusal = problem_lines(response.status_code, answer)
    return sent


def accepted_lines(sent: Sent) -> list[str]:
    return [f"accepted: {sent.id}", f"status:   {sent.status_url}"]


# --- following -----------------------------------------------------------------------------


def follow_many(
    client: httpx.Client,
    sents: Sequence[Sent],
    *,
    timeout: float,
    on_final: Callable[[Sent], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Poll each accepted submission in turn until every one is settled (final, or scheduled
    for later) or ``timeout`` seconds have passed in all; each ``Sent.record`` is left as last
    seen. ``on_final`` is called once for each submission as it settles."""
    deadline = clock() + timeout
    pending = [s for s in sents if s.accepted]
    delay = 0.1
    while pending:
        for sent in list(pending):
            try:
                response = client.get(sent.status_url, timeout=10)
                record = response.json() if response.status_code == 200 else None
            except (httpx.HTTPError, ValueError):
                record = None  # a blip: ask again next round, until the deadline
            if isinstance(record, dict) and "state" in record:
                sent.record = record
                if record["state"] in SETTLED_STATES:
                    pending.remove(sent)
                    if on_final:
                        on_final(sent)
        if not pending or clock() >= deadline:
            return
        sleep(max(0.0, min(delay, deadline - clock())))
        delay = min(delay * 1.5, 1.0)


# --- the submit command --------------------------------------------------------------------


def submit_files(
    files: Sequence[Path], *, base_url: str, writer: str, secret: str, title: str | None = None,
    wait: bool = False, timeout: float = 120.0,
) -> int:
    """Post every file, print each answer, with ``wait`` follow them all; the exit status."""
    single = len(files) == 1
    bar = wants_progress(len(files))
    sents: list[Sent] = []
    with httpx.Client(timeout=30) as client:
        with progress_bar(len(files), "submitting", enabled=bar) as advance:
            for path in files:
                sent = post_one(client, path, base_url=base_url, writer=writer, secret=secret, title=title,
                                on_retry=_tell_retry)
                sents.append(sent)
                name = None if single else str(path)
                if sent.accepted:
                    _write(accepted_lines(sent), name=name)
                else:
                    _write(sent.refusal, err=True, name=name)
                advance()

        accepted = [s for s in sents if s.accepted]
        if wait and accepted:
            with progress_bar(len(accepted), "waiting", enabled=bar and len(accepted) >= PROGRESS_MIN_FILES) as advance:
                def report(sent: Sent) -> None:
                    _write(status_lines(sent.record), name=None if single else str(sent.path))
                    advance()

                follow_many(client, accepted, timeout=timeout, on_final=report)
            for sent in accepted:
                if sent.state in SETTLED_STATES:
                    continue
                # Not final by the deadline: where it got to, and how to look again.
                name = None if single else str(sent.path)
                lines = status_lines(sent.record) if sent.record else ["state:    unknown (no answer from the status URL)"]
                _write(lines, name=name)
                _write([f"not final after {timeout:g} s; `marquee status {sent.id}` shows where it is"], err=True, name=name)

    if not single:
        _write([summary(sents, waited=wait)])
    return 0 if all(s.succeeded(waited=wait) for s in sents) else 1


def _tell_retry(path: Path, status: int, wait: float) -> None:
    reason = "too many requests" if status == 429 else "service unavailable"
    _write([f"{path}: {status} {reason}; sending again in {wait:g} s"], err=True)


def summary(sents: Sequence[Sent], *, waited: bool) -> str:
    counts: dict[str, int] = {}
    for sent in sents:
        state = sent.state
        if waited and sent.accepted and state not in SETTLED_STATES:
            state = "not final"
        counts[state] = counts.get(state, 0) + 1
    order = ["published", "scheduled", "accepted", "rejected", "failed", "retracted", "not final", "refused", "not sent"]
    parts = [f"{counts[s]} {s}" for s in order if s in counts]
    parts += [f"{n} {s}" for s, n in counts.items() if s not in order]
    return f"{len(sents)} files: {', '.join(parts)}"


# --- previews ------------------------------------------------------------------------------


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
    path: Path, *, out: Path, writer: str = "preview", title: str | None = None, now: datetime | None = None,
    max_bytes: int | None = None,
) -> Preview:
    """Read, check and render ``path`` as the pipeline would, with the same functions, and
    write the article and teasers under ``out/reviews/<slug>/``; public URLs in them point
    into ``out`` (``file://``). With any problem, nothing is written."""
    from services.render.article import public_review, render_article
    from services.social.teasers import instagram_files, youtube_files
    from services.validate.rules import build_review, check_submission

    now = now or datetime.now(UTC)
    preview = Preview(path)
    body = path.read_bytes()
    limit = max_bytes or int(os.environ.get("MARQUEE_MAX_BODY_BYTES") or DEFAULT_MAX_BODY_BYTES)
    if len(body) > limit:
        preview.problems = [Problem("body", f"the file is {len(body)} bytes; the limit is {limit}")]
        preview.would_answer = 413
        return preview
    try:
        submission = parse_submission(body, content_type=media_type(path), title=title)
    except MalformedSubmission as exc:
        preview.problems = exc.problems
        preview.would_answer = 400 if any(p.field == "body" for p in exc.problems) else 422
        return preview
    if problems := check_submission(submission, now=now):
        preview.problems = problems
        return preview

    slug = make_slug(submission.title, submission.year)
    review = build_review(submission, id=uuid.uuid4().hex, writer=writer, slug=slug, revision=1,
                          date_published=submission.publish_at or now)
    base_url = out.resolve().as_uri()

    def url(name: str) -> str:
        return public_url(base_url, published_key(slug, name))

    # As the render and social tasks make them (services/render/render.py and
    # services/social/social.py), all made before anything is written.
    article_url = url("index.html")
    files: dict[str, bytes] = {
        "index.html": render_article(review, article_url=article_url, image_url=url("instagram/card.jpg")).encode(),
        "review.json": json.dumps(public_review(review, article_url=article_url), ensure_ascii=False, indent=2).encode(),
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
        why = (f"ingest would answer {preview.would_answer}" if preview.would_answer
               else "the validate stage would reject it")
        count = len(preview.problems)
        return [f"problems: {count} ({why}); nothing written",
                *(f"  - {p.field}: {p.message}" for p in preview.problems)]
    assert preview.folder is not None
    first, *rest = preview.files
    lines = [f"slug:     {preview.slug}", f"written:  {first}", *(f"          {p}" for p in rest)]
    lines.append(f"open:     {(preview.folder / 'index.html').resolve().as_uri()}")
    lines += [f"note:     {note}" for note in preview.notes]
    return lines


def preview_files(files: Sequence[Path], *, out: Path | None = None, writer: str = "preview", title: str | None = None) -> int:
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
                lines.append(f"note:     same slug as {made[preview.slug]}, whose preview this replaces; "
                             "published, it would be a new revision of that review")
            if preview.slug:
                made[preview.slug] = path
            _write(lines, err=not preview.ok, name=str(path))
            advance()
    good = sum(p.ok for p in previews)
    if made_folder and not good:
        out.rmdir()  # the new folder would stay empty
    where = f" Preview: {out}" if good else ""
    _write([f"{len(previews)} file{'s' if len(previews) != 1 else ''}: {good} ready, "
            f"{len(previews) - good} with problems; nothing was sent.{where}"])
    return 0 if good == len(previews) else 1
