"""The operators' commands: ``marquee queues``, ``failed``, ``retry`` and ``reconcile``.

Run in the checkout where ``make run`` is running, they find its stack through
``var/stack.json``; elsewhere they take the services' own settings (MARQUEE_*).
The work is in shared/operations/, which the /ops page shares.
"""

from __future__ import annotations

import json
import sys
import time

import click


def _redis():
    """Redis, from this checkout's running stack or the environment's settings."""
    from services.cli.localstack import use_local_stack
    from shared.config import MissingSettingError, get_settings
    from shared.connection import connect

    use_local_stack()
    try:
        settings = get_settings()
    except MissingSettingError as exc:
        raise click.ClickException(
            f"{exc}\n(run this in the checkout where `make run` is running, or set the services' settings)"
        ) from None
    return connect(settings.redis)


def _connection_error(exc: Exception) -> click.ClickException:
    return click.ClickException(f"cannot reach Redis: {exc}")


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 120:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def queues_snapshot(client) -> dict:
    from shared.operations import failed_count, queue_stats
    from shared.state import now_iso

    return {
        "at": now_iso(),
        "queues": [row.as_dict() for row in queue_stats(client)],
        "failed_submissions": failed_count(client),
    }


def _queues_table(snapshot: dict):
    from rich import box
    from rich.table import Table

    table = Table(
        title=f"Marquee queues at {snapshot['at']}",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        caption=f"failed submissions awaiting retry: {snapshot['failed_submissions']}"
        + ("  (marquee failed)" if snapshot["failed_submissions"] else ""),
        caption_justify="left",
    )
    for name in ("queue", "waiting", "unacked", "workers", "done 5m", "failed 5m", "retried 5m", "oldest"):
        table.add_column(name, justify="left" if name == "queue" else "right", no_wrap=True)
    for row in snapshot["queues"]:
        workers = str(row["workers"]) if row["workers"] else "[bold red]0[/]"
        failed = f"[bold red]{row['failed_5m']}[/]" if row["failed_5m"] else "0"
        age = _age(row["oldest_age_seconds"])
        if (row["oldest_age_seconds"] or 0) > 60:
            age = f"[yellow]{age}[/]"
        table.add_row(
            row["queue"],
            str(row["waiting"]),
            str(row["unacked"]),
            workers,
            str(row["processed_5m"]),
            failed,
            str(row["retried_5m"]),
            age,
        )
    return table


@click.command()
@click.option("--watch", "-w", is_flag=True, help="Refresh until Ctrl-C.")
@click.option("--interval", default=2.0, show_default=True, help="Seconds between refreshes with --watch.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (with --watch, one object a line).")
def queues(watch: bool, interval: float, as_json: bool) -> None:
    """Each stage queue: messages waiting and unacked, workers, the last five minutes'
    throughput and failures, and the age of the oldest waiting message."""
    import redis
    from rich.console import Console

    client = _redis()
    console = Console() if sys.stdout.isatty() else Console(width=120)  # piped: no terminal to fit

    def snapshot() -> dict:
        try:
            return queues_snapshot(client)
        except redis.RedisError as exc:
            raise _connection_error(exc) from None

    if not watch:
        data = snapshot()
        if as_json:
            click.echo(json.dumps(data, indent=2))
        else:
            console.print(_queues_table(data))
        return
    try:
        if as_json:
            while True:
                click.echo(json.dumps(snapshot()))
                time.sleep(interval)
        from rich.live import Live

        with Live(_queues_table(snapshot()), console=console, auto_refresh=False) as live:
            while True:
                time.sleep(interval)
                live.update(_queues_table(snapshot()), refresh=True)
    except KeyboardInterrupt:
        pass


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--limit", default=100, show_default=True, help="At most this many, newest first.")
@click.option("--source", "sources", multiple=True, help="Only these sources (submission, …).")
def failed(as_json: bool, limit: int, sources: tuple[str, ...]) -> None:
    """What failed for good and awaits an operator: the stage, the error, the attempts.
    `marquee retry ID` sends one on again."""
    import redis

    from shared.operations import failures

    client = _redis()
    try:
        found = failures(client, limit=limit, sources=sources or None)
    except redis.RedisError as exc:
        raise _connection_error(exc) from None
    if as_json:
        click.echo(json.dumps([f.as_dict() for f in found], indent=2))
        return
    if not found:
        click.echo("Nothing has failed.")
        return
    click.echo(f"{len(found)} failed, newest first (`marquee retry ID` or `--all` sends them on again):\n")
    for f in found:
        attempts = f"{f.attempts} attempt{'s' if f.attempts != 1 else ''}"
        if f.replays:
            attempts += f", retried {f.replays} time{'s' if f.replays != 1 else ''} before"
        click.echo(
            f"{f.source} {click.style(f.id, bold=True)}  writer {f.subject or '-'}  stage "
            f"{click.style(f.stage or '?', fg='red')}  {attempts}  failed {f.as_dict()['failed_at'] or '?'}"
        )
        click.echo(f"    {f.error}\n")


@click.command()
@click.argument("ids", nargs=-1)
@click.option("--all", "retry_all", is_flag=True, help="Every failed submission.")
@click.option("--source", default="submission", show_default=True, help="What the ids are.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def retry(ids: tuple[str, ...], retry_all: bool, source: str, as_json: bool) -> None:
    """Send each failed submission ID (or --all) through the stage that failed again.

    Safe to repeat: a submission that is no longer failed is left alone, and stages
    skip work already done. Exits 1 if an ID is unknown."""
    import redis

    from shared import operations as ops

    if bool(ids) == retry_all:
        raise click.UsageError("give the ids to retry, or --all")
    client = _redis()
    try:
        if retry_all:
            ids = tuple(f.id for f in ops.failures(client, limit=1_000_000, sources=[source]))
        outcomes = [ops.retry(client, id, source=source) for id in ids]
    except redis.RedisError as exc:
        raise _connection_error(exc) from None
    if as_json:
        click.echo(json.dumps([o.__dict__ | {"tasks": list(o.tasks)} for o in outcomes], indent=2))
    else:
        if not outcomes:
            click.echo("Nothing has failed.")
        for o in outcomes:
            click.echo(f"{'retried' if o.retried else 'skipped'} {o.id}: {o.detail}")
    if any(not o.retried and o.detail.startswith("no such") for o in outcomes):
        sys.exit(1)


@click.command()
@click.option("--dry-run", is_flag=True, help="Report what would be sent on; change nothing.")
@click.option(
    "--min-age",
    default=30.0,
    show_default=True,
    help="Leave submissions younger than this many seconds (ingest may be accepting them).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--verbose", "-v", is_flag=True, help="List every submission, not only those sent on.")
def reconcile(dry_run: bool, min_age: float, as_json: bool, verbose: bool) -> None:
    """Find every archived submission that is neither published, rejected, failed nor
    retracted and is not queued, and send it on from the right stage; re-create its
    state from the archive when Redis has lost it."""
    import contextlib
    from collections import Counter

    import redis

    from shared.observability.metrics import RECONCILES
    from shared.operations.reconcile import reconcile as run_reconcile
    from shared.operations.recovery import is_complete, reconcile_lock, write_epoch
    from shared.pipeline import get_runtime

    _redis()  # finds the stack and checks the settings
    public: dict[str, int] = {}
    rt = get_runtime()
    try:
        # One reconcile at a time: the sweeper's automatic one takes this lock too.
        held = contextlib.nullcontext() if dry_run else reconcile_lock(rt.states.redis, wait=600)
        with held:
            findings = run_reconcile(rt, min_age=min_age, dry_run=dry_run, restored=public.update)
            if not dry_run:
                RECONCILES.labels(trigger="operator").inc(client=rt.states.redis)
                if is_complete(findings):
                    write_epoch(rt.states.redis)  # repaired: the sweeper need not reconcile again
    except redis.exceptions.LockError:
        raise click.ClickException("another reconcile is running (the sweeper's?); try again when it ends") from None
    except redis.RedisError as exc:
        raise _connection_error(exc) from None
    if as_json:
        click.echo(json.dumps([f.as_dict() for f in findings], indent=2))
    else:
        if public.get("unlisted") or public.get("unowned"):
            # What Redis had lost of the published reviews, put back before anything was sent.
            done = "missing" if dry_run else "restored"
            click.echo(
                f"{public['live']} published review(s): {public['unlisted']} {done} in the index and feeds"
                f"{', then rewritten' if public.get('restored') else ''}; {public['unowned']} slug owner(s) {done}"
            )
        acted = ("requeued", "recreated", "error")
        for f in findings:
            if verbose or f.action in acted:
                tasks = f" → {', '.join(f.tasks)}" if f.tasks else ""
                click.echo(f"{f.action:13} {f.id}  {f.state or '-'}{tasks}  {f.detail}".rstrip())
        counts = Counter(f.action for f in findings)
        summary = (
            ", ".join(f"{n} {action.replace('_', ' ')}" for action, n in sorted(counts.items())) or "nothing archived"
        )
        click.echo(f"{len(findings)} archived submission(s): {summary}{' (dry run)' if dry_run else ''}")
    if any(f.action == "error" for f in findings):
        sys.exit(1)
