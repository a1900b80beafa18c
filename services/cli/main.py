"""The ``marquee`` command: run the stack or one service of it, and submit reviews."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, cast

import click
import httpx

from shared.queues import MAINTENANCE_QUEUE, QUEUES
from shared.writers import WritersFile

if TYPE_CHECKING:
    from shared.connection import RedisAddress


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Marquee: a publishing pipeline for film reviews."""


@main.command()
def run() -> None:
    """Start the whole stack locally (redis-server, ingest, one worker per stage) under var/."""
    from services.cli.supervisor import run_stack

    run_stack(Path.cwd())


@main.command()
@click.option("--host", default=None, help="Address to bind (default: MARQUEE_INGEST_HOST, 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port (default: MARQUEE_INGEST_PORT, 8000).")
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1),
    help="Server processes sharing the port; one keeps a core busy at a few hundred webhooks a second.",
)
def ingest(host: str | None, port: int | None, workers: int) -> None:
    """Run the ingest HTTP service."""
    import uvicorn

    from shared.config import get_settings

    settings = get_settings()  # fails here, naming any missing setting
    uvicorn.run(
        "services.ingest.app:create_app",
        factory=True,
        host=host or settings.ingest_host,
        port=port or settings.ingest_port,
        log_level="info",
        access_log=False,
        workers=workers,
    )


@main.command(context_settings={"ignore_unknown_options": True})
@click.argument("queue", type=click.Choice(QUEUES))
@click.option("--concurrency", "-c", default=1, show_default=True, help="Pool processes.")
@click.argument("celery_args", nargs=-1, type=click.UNPROCESSED)
def worker(queue: str, concurrency: int, celery_args: tuple[str, ...]) -> None:
    """Run the Celery worker that consumes one stage's QUEUE, and the maintenance queue
    (extra arguments go to celery)."""
    from shared.config import get_settings

    get_settings()
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "shared.broker.celery_app",
        "worker",
        "-Q",
        f"{queue},{MAINTENANCE_QUEUE}",  # every stage worker also runs the sweeper (shared/queues.py)
        "-n",
        f"{queue}@%h",
        "--concurrency",
        str(concurrency),
        "--loglevel",
        "INFO",
        # Workers need not know one another: Marquee revokes nothing and elects nothing, and
        # gossip's restart after a lost broker logs a spurious error (a Celery bug).
        "--without-gossip",
        "--without-mingle",
        *celery_args,
    ]
    os.execv(sys.executable, argv)


@main.command()
@click.option("--schedule-file", default=None, help="Where beat keeps its last-run times (default: a temp file).")
def beat(schedule_file: str | None) -> None:
    """Run Celery beat: it starts the periodic task that lifts embargoes. Run exactly one."""
    import tempfile

    from shared.config import get_settings

    get_settings()
    schedule = schedule_file or os.path.join(tempfile.gettempdir(), f"marquee-beat-{os.getuid()}")
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "shared.broker.celery_app",
        "beat",
        "--schedule",
        schedule,
        "--loglevel",
        "INFO",
    ]
    os.execv(sys.executable, argv)


def _default_ingest_url() -> str:
    if url := os.environ.get("MARQUEE_INGEST_URL"):
        return url
    stack = Path("var/stack.json")
    if stack.exists():
        return json.loads(stack.read_text())["ingest_url"]
    return f"http://127.0.0.1:{os.environ.get('MARQUEE_INGEST_PORT', '8000')}"


def _default_writers_file() -> str:
    return os.environ.get("MARQUEE_WRITERS_FILE", "var/writers.json")


def _writer_secret(writers_file: str, writer: str) -> str:
    if secret := os.environ.get("MARQUEE_WRITER_SECRET"):
        return secret
    path = Path(writers_file)
    if not path.exists():
        raise click.ClickException(f"no writers file at {path}; set MARQUEE_WRITERS_FILE or MARQUEE_WRITER_SECRET")
    entry = WritersFile(path).get(writer)
    if entry is None:
        raise click.ClickException(f"writer {writer!r} is not in {path}")
    return entry.secrets[0]


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--writer", "-w", default=None, help="Your writer id (required unless --dry-run).")
@click.option("--title", help="The film's title, for a text review without a 'Title:' line (one file only).")
@click.option("--url", default=None, help="The ingest service (default: the local stack).")
@click.option(
    "--writers-file", default=None, help="Where your secret is (default: MARQUEE_WRITERS_FILE or var/writers.json)."
)
@click.option("--wait", is_flag=True, help="Follow each review to its final state and print it.")
@click.option("--timeout", default=120.0, show_default=True, help="Seconds --wait waits, for all the reviews together.")
@click.option(
    "--dry-run", is_flag=True, help="Check and render locally, post nothing: write a preview and print its files."
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where --dry-run writes its preview (default: a new temporary folder).",
)
def submit(
    paths: tuple[Path, ...],
    writer: str | None,
    title: str | None,
    url: str | None,
    writers_file: str | None,
    wait: bool,
    timeout: float,
    dry_run: bool,
    out: Path | None,
) -> None:
    """Sign each review in PATHS (JSON or text files, or folders of .json/.txt files) with your
    secret and submit it; exits non-zero if any is refused, rejected or fails."""
    from services.cli import submitting

    files = submitting.find_reviews(paths)
    if not files:
        raise click.ClickException(f"no reviews (.json or .txt files) in {', '.join(map(str, paths))}")
    if title and len(files) > 1:
        raise click.UsageError("--title names one film: give it with a single review")
    if dry_run:
        from services.cli.preview import preview_files

        sys.exit(preview_files(files, out=out, writer=writer or "preview", title=title))
    if not writer:
        raise click.UsageError("Missing option '--writer' / '-w'.")
    secret = _writer_secret(writers_file or _default_writers_file(), writer)
    sys.exit(
        submitting.submit_files(
            files,
            base_url=(url or _default_ingest_url()).rstrip("/"),
            writer=writer,
            secret=secret,
            title=title,
            wait=wait,
            timeout=timeout,
        )
    )


@main.command()
@click.argument("submission_id")
@click.option("--url", default=None, help="The ingest service (default: the local stack).")
def status(submission_id: str, url: str | None) -> None:
    """Print where a submission is."""
    from services.cli.submitting import problem_lines, status_lines

    response = httpx.get(f"{(url or _default_ingest_url()).rstrip('/')}/v1/reviews/{submission_id}", timeout=10)
    if response.status_code != 200:
        try:
            body = response.json()
        except ValueError:
            body = response.text
        click.echo("\n".join(problem_lines(response.status_code, body)), err=True)
        sys.exit(1)
    click.echo("\n".join(status_lines(response.json())))


@main.group()
def events() -> None:
    """Downstream events (the Redis stream marquee:events)."""


@events.command("tail")
@click.option(
    "--group", default="marquee-cli", show_default=True, help="Consumer group: each group sees every event once."
)
@click.option("--from-start", is_flag=True, help="A new group starts at the oldest event, not the next one.")
@click.option("--count", type=int, default=None, help="Stop after this many events.")
@click.option("--timeout", type=float, default=None, help="Stop after this many seconds without an event.")
def events_tail(group: str, from_start: bool, count: int | None, timeout: float | None) -> None:
    """Print events as they come, one envelope (docs/CONSUMERS.md) a line, reading as a consumer group."""
    import redis as redis_client

    from shared.connection import connect
    from shared.envelope import STREAM_FIELD
    from shared.state import EVENTS_STREAM

    client = connect(_redis_address())
    try:
        client.xgroup_create(EVENTS_STREAM, group, id="0" if from_start else "$", mkstream=True)
    except redis_client.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise
    consumer = f"{os.uname().nodename}-{os.getpid()}"
    seen = 0
    while count is None or seen < count:
        # RESP2, decoded: [(stream, [(entry id, fields)])]; redis-py's types also allow RESP3's dict and bytes.
        batch = cast(
            "list[tuple[str, list[tuple[str, dict[str, str]]]]]",
            client.xreadgroup(
                group, consumer, {EVENTS_STREAM: ">"}, count=10, block=int(timeout * 1000) if timeout else 0
            ),
        )
        if not batch:
            return  # no event within --timeout
        for entry_id, fields in batch[0][1]:
            # The envelope, as a webhook's body carries it; an entry older than envelopes, as it is.
            click.echo(fields.get(STREAM_FIELD) or json.dumps(fields, ensure_ascii=False))
            client.xack(EVENTS_STREAM, group, entry_id)
            seen += 1
            if count is not None and seen >= count:
                return


def _redis_address() -> RedisAddress:
    from services.cli.localstack import use_local_stack
    from shared.connection import parse_redis_address

    use_local_stack()  # the make-run stack's settings, where the environment gives none
    if url := os.environ.get("MARQUEE_REDIS_URL"):
        try:
            return parse_redis_address(url, os.environ.get("MARQUEE_REDIS_SENTINEL_MASTER") or None)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
    raise click.ClickException("set MARQUEE_REDIS_URL, or run this in the checkout where `make run` is running")


from services.cli import operators as opscommands  # noqa: E402 - the operators' commands

main.add_command(opscommands.queues)
main.add_command(opscommands.failed)
main.add_command(opscommands.retry)
main.add_command(opscommands.reconcile)

from services.cli import rollback as rollbackcommands  # noqa: E402 - a review's revisions, and rolling back

main.add_command(rollbackcommands.rollback)
main.add_command(rollbackcommands.revisions)


if __name__ == "__main__":
    main()
