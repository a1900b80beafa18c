"""`marquee rollback` and `marquee revisions`, run as an operator runs them, against a real
redis-server and real local stores that the upload queue's tasks (run in-process) filled.

Refusals are the command's own checks, made before anything is sent; a rollback that can
be made is sent to the upload queue. tests/integration/test_revisions.py follows one
through a running stack.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from services.upload import retract as retract_module
from tests.support.processes import REPO
from tests.support.upload_world import SLUG, World

pytestmark = pytest.mark.integration


@pytest.fixture
def client(redis_server):
    connection = redis.Redis.from_url(redis_server.url.replace("/0", "/14"), decode_responses=True)
    connection.flushdb()
    yield connection
    connection.flushdb()


def marquee(world: World, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    writers = tmp_path / "writers.json"
    writers.write_text(json.dumps({"writers": {}}))
    kwargs = world.client.connection_pool.connection_kwargs
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "MARQUEE_REDIS_URL": f"redis://{kwargs['host']}:{kwargs['port']}/{kwargs['db']}",
        "MARQUEE_ARCHIVE_URL": str(world.archive.root),
        "MARQUEE_PUBLISH_URL": str(world.root),
        "MARQUEE_PUBLIC_BASE_URL": world.settings.public_base_url,
        "MARQUEE_WRITERS_FILE": str(writers),
        "MARQUEE_RETENTION_KEEP": str(world.settings.retention_keep),
        "MARQUEE_RETENTION_MIN_AGE": str(world.settings.retention_min_age),
    }
    return subprocess.run(
        [sys.executable, "-m", "services.cli.main", *args],
        env=env,
        cwd=tmp_path,  # no var/stack.json here: the environment's settings alone
        capture_output=True,
        text=True,
        timeout=60,
    )


def queued(client: redis.Redis) -> list[tuple[str, str]]:
    """The (task, args) of each message waiting in the upload queue."""
    return [
        (message["headers"]["task"], message["headers"]["argsrepr"])
        for message in map(json.loads, client.lrange("upload", 0, -1))
    ]


def test_revisions_lists_what_is_kept_and_which_is_live(client, tmp_path, monkeypatch):
    world = World(client, tmp_path, monkeypatch)
    ids = world.publish_revisions(3)
    done = marquee(world, tmp_path, "revisions", SLUG)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[:2] for line in lines] == [["1", ids[0]], ["2", ids[1]], ["3", ids[2]]]
    assert lines[2].endswith("LIVE") and "replaced" in lines[0] and "LIVE" not in lines[0]
    rows = json.loads(marquee(world, tmp_path, "revisions", SLUG, "--json").stdout)["revisions"]
    assert [(r["revision"], r["live"]) for r in rows] == [(1, False), (2, False), (3, True)]


def test_rollback_refuses_saying_why_and_sends_nothing(client, tmp_path, monkeypatch):
    world = World(client, tmp_path, monkeypatch)
    first, _, _ = world.publish_revisions(3)
    world.run(retract_module.retract, first)
    for args, reason in (
        (("--to", "1"), f"revision 1 at {SLUG} (submission {first}) was withdrawn by its writer"),
        (("--to", "3"), "revision 3 is already the live one"),
        (("--to", "7"), f"{SLUG} has no revision 7 (kept: 1, 2, 3)"),
    ):
        done = marquee(world, tmp_path, "rollback", SLUG, *args)
        assert done.returncode == 1 and f"cannot roll back {SLUG}: {reason}" in done.stderr, done.stderr
    done = marquee(world, tmp_path, "rollback", "never-published-2020")
    assert done.returncode == 1 and "nothing is live at never-published-2020" in done.stderr
    assert queued(client) == []


def test_rollback_to_a_removed_revision_is_refused_naming_retention(client, tmp_path, monkeypatch):
    world = World(client, tmp_path, monkeypatch, keep=1, min_age=0)
    world.publish_revisions(3)
    done = marquee(world, tmp_path, "rollback", SLUG, "--to", "1")
    assert done.returncode == 1
    assert "revision 1 at glasshouse-2025 was removed on" in done.stderr
    assert "retention keeps the newest 1 revisions and any live in the last 0 h" in done.stderr
    assert queued(client) == []


def test_rollback_sends_the_task_with_the_revision_and_the_live_one_it_saw(client, tmp_path, monkeypatch):
    world = World(client, tmp_path, monkeypatch)
    ids = world.publish_revisions(3)
    done = marquee(world, tmp_path, "rollback", SLUG)  # the default: the revision before the live one
    assert done.returncode == 0, done.stderr
    assert f"rolling back {SLUG} from revision 3 to 2 (submission {ids[1]})" in done.stdout
    assert queued(client) == [("marquee.rollback", f"['{SLUG}', 2, 3]")]
