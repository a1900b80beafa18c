"""``marquee rollback`` and ``marquee revisions``: a review's kept revisions, and making one live again.

The checks the rollback task makes under the slug's lease are made here first, so an
operator hears at once why a rollback cannot be made; the task checks again, since a
publication or a withdrawal may land between the two.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click

from services.cli.operators import _redis


def _runtime():
    from shared.pipeline import get_runtime

    _redis()  # finds this checkout's stack and checks the settings, naming what is missing
    return get_runtime()


@click.command()
@click.argument("slug")
@click.option(
    "--to",
    "revision",
    type=click.IntRange(1),
    default=None,
    help="The revision (default: the one before the live one).",
)
@click.option("--wait", is_flag=True, help="Follow until the manifest shows that revision.")
@click.option("--timeout", default=60.0, show_default=True, help="Seconds --wait waits.")
def rollback(slug: str, revision: int | None, wait: bool, timeout: float) -> None:
    """Make revision N of the review at SLUG live again: its files at the stable addresses,
    its manifest the live one, the index and feeds showing it, and `review.rolled_back`
    announced. Refused, saying why, for a revision withdrawn by its writer, removed by
    retention, or live already."""
    from services.upload.revisions import RollbackRefused, plan_rollback
    from shared.broker.celery_app import app
    from shared.queues import task_name

    rt = _runtime()
    try:
        plan = plan_rollback(rt, slug, revision)
    except RollbackRefused as refused:
        raise click.ClickException(f"cannot roll back {slug}: {refused}") from None
    app.send_task(task_name("rollback"), args=[slug, plan.revision, plan.live.revision])
    click.echo(
        f"rolling back {slug} from revision {plan.live.revision} to {plan.revision} (submission {plan.target.id})"
    )
    if not wait:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            now = plan_rollback(rt, slug, plan.revision, live_expected=plan.live.revision).live
        except RollbackRefused as refused:
            # Something else changed the review meanwhile; the task refuses too.
            raise click.ClickException(f"the rollback of {slug} was not made: {refused}") from None
        if now.revision == plan.revision and now.id == plan.target.id:
            from shared.keys import MANIFEST, published_key

            click.echo(f"live: revision {plan.revision} at {rt.public_url(published_key(slug, MANIFEST))}")
            return
        time.sleep(0.2)
    click.echo(f"revision {plan.revision} is not live after {timeout:g} s: is an upload worker running?", err=True)
    sys.exit(1)


@click.command()
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def revisions(slug: str, as_json: bool) -> None:
    """The revisions kept for the review at SLUG: number, submission, when it went live and
    was replaced, and which is live."""
    from services.upload.revisions import kept_revisions, read_log, read_manifest
    from shared.keys import MANIFEST, published_key, revision_key

    rt = _runtime()
    live = read_manifest(rt.publish, published_key(slug, MANIFEST))
    log = read_log(rt.publish, slug)
    rows: list[dict[str, Any]] = []
    for n in kept_revisions(rt.publish, slug):
        entry = log.entry(n)
        manifest = read_manifest(rt.publish, revision_key(slug, n, MANIFEST)) if entry is None else None
        rows.append(
            {
                "revision": n,
                "id": entry.id if entry else (manifest.id if manifest else ""),
                "live_at": entry.live_at.isoformat() if entry else None,
                "replaced_at": entry.replaced_at.isoformat() if entry and entry.replaced_at else None,
                "live": live is not None and live.revision == n,
            }
        )
    if as_json:
        click.echo(json.dumps({"slug": slug, "revisions": rows}, indent=2))
        return
    if not rows:
        raise click.ClickException(f"no revisions of {slug} are kept (never published, or withdrawn)")
    for row in rows:
        when = (row["live_at"] or "?")[:19].replace("T", " ")
        replaced = f"  replaced {row['replaced_at'][:19].replace('T', ' ')}" if row["replaced_at"] else ""
        mark = "  LIVE" if row["live"] else ""
        click.echo(f"{row['revision']:>4}  {row['id']}  live from {when}{replaced}{mark}")
