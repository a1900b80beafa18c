"""What ``marquee submit`` does: find review files, sign and post each, and follow them.

The pieces are plain functions so that they can be tested on their own:

- ``find_reviews``: the files named, and the ``.json``/``.txt`` files in each folder named;
- ``post_one``: sign one file with the writer's secret and post it (a ``Sent``);
- ``follow_many``: poll every accepted submission round-robin to its final state, with one
  overall deadline;
``submit_files`` puts them together and print as they go; it
returns the exit status. Output for a single file keeps the format ``marquee submit``
always had; with several files, each file's lines follow its name, indented.
"""

from __future__ import annotations

import math
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import httpx

from shared.parsing import media_type_problem
from shared.writers import sign

TERMINAL_STATES = ("published", "rejected", "failed", "superseded", "retracted")
# --wait stops at a final state, or at "scheduled": an embargoed review is held, unchanged,
# until its publish_at. Published or scheduled is what the writer asked for; so is
# superseded: the writer's own later revision of the review was live first.
SETTLED_STATES = (*TERMINAL_STATES, "scheduled")
GOOD_STATES = ("published", "scheduled", "superseded")
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
                (
                    p
                    for p in path.iterdir()
                    if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in REVIEW_SUFFIXES
                ),
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
    """``application/json`` for a ``.json`` file; any other file is a text review. Never guessed
    from the content: a body that belies its name is refused (415), as ingest refuses it."""
    return "application/json" if path.suffix.lower() == ".json" else "text/plain"


# --- what is printed -----------------------------------------------------------------------


def status_lines(record: dict) -> list[str]:
    """A status record as ``marquee status`` prints it."""
    lines = [f"state:    {record['state']}"]
    for error in record.get("errors") or []:
        lines.append(f"  - {error.get('field') or 'error'}: {error['message']}")
    if record.get("scheduled_for") and record.get("state") == "scheduled":
        lines.append(f"until:    {record['scheduled_for']}")
    if record.get("superseded_by") and record.get("state") == "superseded":
        lines.append(f"live:     {record['superseded_by']} (a later revision, live before this one reached upload)")
    for name, link in (record.get("urls") or {}).items():
        lines.append(f"{name + ':':9} {link}")
    return lines + timeline_lines(record.get("history") or [])


def timeline_lines(history: list[dict]) -> list[str]:
    """Each stage with the time it reached its state, and how long after the one before."""
    lines, previous = [], None
    for step in history:
        at = datetime.fromisoformat(step["at"].replace("Z", "+00:00"))
        took = "" if previous is None else f"  +{(at - previous).total_seconds():.3f} s"
        if step.get("note"):  # something that happened to it since (a rollback), not a move
            took = f"  {step['note']} ({at:%Y-%m-%d})"
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


def write_lines(lines: Sequence[str], *, err: bool = False, name: str | None = None) -> None:
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
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
        # Only a terminal stdout is redirected above the bar; a pipe or file keeps its own lines.
        redirect_stdout=_isatty(sys.stdout),
        redirect_stderr=True,
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
    client: httpx.Client,
    path: Path,
    *,
    base_url: str,
    writer: str,
    secret: str,
    title: str | None = None,
    attempts: int = MAX_ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[Path, int, float], None] | None = None,
) -> Sent:
    """Sign ``path`` with ``secret`` (Standard Webhooks) and post it. On 429 or 503 it waits
    as asked and sends again, up to ``attempts`` in all, with the same webhook-id (so ingest
    can never take it twice) and a fresh timestamp and signature."""
    sent = Sent(path)
    body = path.read_bytes()
    msg_id = f"msg_{uuid.uuid4().hex}"
    content_type = media_type(path)
    # Ingest would answer 415 (the type comes from the file's name, and the body belies it):
    # say so here, with what to rename, rather than send it.
    if mismatch := media_type_problem(body, content_type=content_type):
        rename = ".json" if content_type == "text/plain" else ".txt"
        sent.refusal = [
            f"error 415: not sent: {mismatch.message}",
            f"  - {path.name} is sent as {content_type} for its name: name it {path.stem}{rename}",
        ]
        return sent
    for attempt in range(1, attempts + 1):
        try:
            headers = sign(secret, msg_id=msg_id, timestamp=int(time.time()), body=body)
        except UnicodeDecodeError:
            sent.refusal = ["error: not sent: the file is not UTF-8 text; save it as UTF-8"]
            return sent
        headers["content-type"] = content_type if content_type == "application/json" else "text/plain; charset=utf-8"
        try:
            response = client.post(
                f"{base_url.rstrip('/')}/v1/writers/{writer}/reviews",
                content=body,
                headers=headers,
                params={"title": title} if title else None,
            )
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
            assert sent.status_url is not None  # pending holds accepted submissions, which have one
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
    files: Sequence[Path],
    *,
    base_url: str,
    writer: str,
    secret: str,
    title: str | None = None,
    wait: bool = False,
    timeout: float = 120.0,
) -> int:
    """Post every file, print each answer, with ``wait`` follow them all; the exit status."""
    single = len(files) == 1
    bar = wants_progress(len(files))
    sents: list[Sent] = []
    with httpx.Client(timeout=30) as client:
        with progress_bar(len(files), "submitting", enabled=bar) as advance:
            for path in files:
                sent = post_one(
                    client, path, base_url=base_url, writer=writer, secret=secret, title=title, on_retry=_tell_retry
                )
                sents.append(sent)
                name = None if single else str(path)
                if sent.accepted:
                    write_lines(accepted_lines(sent), name=name)
                else:
                    write_lines(sent.refusal, err=True, name=name)
                advance()

        accepted = [s for s in sents if s.accepted]
        if wait and accepted:
            with progress_bar(len(accepted), "waiting", enabled=bar and len(accepted) >= PROGRESS_MIN_FILES) as advance:

                def report(sent: Sent) -> None:
                    assert sent.record is not None  # follow_many calls on_final once it has read the record
                    write_lines(status_lines(sent.record), name=None if single else str(sent.path))
                    advance()

                follow_many(client, accepted, timeout=timeout, on_final=report)
            for sent in accepted:
                if sent.state in SETTLED_STATES:
                    continue
                # Not final by the deadline: where it got to, and how to look again.
                name = None if single else str(sent.path)
                lines = (
                    status_lines(sent.record) if sent.record else ["state:    unknown (no answer from the status URL)"]
                )
                write_lines(lines, name=name)
                write_lines(
                    [f"not final after {timeout:g} s; `marquee status {sent.id}` shows where it is"],
                    err=True,
                    name=name,
                )

    if not single:
        write_lines([summary(sents, waited=wait)])
    return 0 if all(s.succeeded(waited=wait) for s in sents) else 1


def _tell_retry(path: Path, status: int, wait: float) -> None:
    reason = "too many requests" if status == 429 else "service unavailable"
    write_lines([f"{path}: {status} {reason}; sending again in {wait:g} s"], err=True)


def summary(sents: Sequence[Sent], *, waited: bool) -> str:
    counts: dict[str, int] = {}
    for sent in sents:
        state = sent.state
        if waited and sent.accepted and state not in SETTLED_STATES:
            state = "not final"
        counts[state] = counts.get(state, 0) + 1
    order = [
        "published",
        "scheduled",
        "accepted",
        "rejected",
        "failed",
        "superseded",
        "retracted",
        "not final",
        "refused",
        "not sent",
    ]
    parts = [f"{counts[s]} {s}" for s in order if s in counts]
    parts += [f"{n} {s}" for s, n in counts.items() if s not in order]
    return f"{len(sents)} files: {', '.join(parts)}"
