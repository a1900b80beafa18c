"""The README's commands, run as a newcomer runs them: `marquee run` and `marquee submit`."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.event_contract import violations
from tests.support.processes import REPO, free_port, poll

pytestmark = pytest.mark.integration

MARQUEE = [sys.executable, "-m", "services.cli.main"]


def marquee(*args: str, env: dict, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([*MARQUEE, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_submit_wait_prints_the_final_state_and_exits_by_it(local_stack):
    env = {**os.environ, "PYTHONPATH": str(REPO), "MARQUEE_WRITERS_FILE": str(local_stack.writers_file)}
    review = REPO / "tests/fixtures/reviews/untitled-circus.txt"
    done = marquee(
        "submit", str(review), "--writer", "alice", "--title", "Circus CLI", "--url", local_stack.url, "--wait", env=env
    )
    assert done.returncode == 0, done.stderr
    assert "state:    published" in done.stdout and "/reviews/circus-cli/index.html" in done.stdout


def test_submit_reports_every_reason_and_fails(local_stack, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "MARQUEE_WRITERS_FILE": str(local_stack.writers_file)}
    review = json.loads((REPO / "tests/fixtures/reviews/glasshouse.json").read_text())
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(review | {"title": "Bad CLI", "rating": 11, "certificate": "Z"}))
    done = marquee("submit", str(bad), "--writer", "alice", "--url", local_stack.url, "--wait", env=env)
    assert done.returncode == 1
    assert "state:    rejected" in done.stdout and "- rating:" in done.stdout and "- certificate:" in done.stdout

    refused = marquee(
        "submit",
        str(REPO / "tests/fixtures/reviews/untitled-circus.txt"),
        "--writer",
        "alice",
        "--url",
        local_stack.url,
        env=env,
    )
    assert refused.returncode == 1 and "error 422" in refused.stderr and "- title:" in refused.stderr


def test_an_unknown_writer_is_named_before_anything_is_sent(local_stack):
    env = {**os.environ, "PYTHONPATH": str(REPO), "MARQUEE_WRITERS_FILE": str(local_stack.writers_file)}
    done = marquee(
        "submit",
        str(REPO / "examples/reviews/paper-lanterns.json"),
        "--writer",
        "zed",
        "--url",
        local_stack.url,
        env=env,
    )
    assert done.returncode == 1 and "writer 'zed' is not in" in done.stderr


def test_marquee_run_starts_the_stack_publishes_and_stops_on_ctrl_c(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MARQUEE_")}
    env |= {"PYTHONPATH": str(REPO), "MARQUEE_INGEST_PORT": str(port)}
    (tmp_path / "examples").symlink_to(REPO / "examples")
    run = subprocess.Popen(
        [*MARQUEE, "run"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        umask=0,  # the most permissive there is: var/ must be private regardless
    )
    try:
        stack_file = tmp_path / "var/stack.json"
        poll(stack_file.exists, timeout=60, what="marquee run to be ready")
        stack = json.loads(stack_file.read_text())
        redis_port = int(stack["redis_url"].rsplit(":", 1)[1].split("/")[0])
        writers = json.loads((tmp_path / "var/writers.json").read_text())
        assert list(writers["writers"]) == ["dev"]

        # The command it prints, as a newcomer pastes it.
        done = marquee(
            "submit", "examples/reviews/the-salt-road.txt", "--writer", "dev", "--wait", env=env, cwd=tmp_path
        )
        assert done.returncode == 0, done.stdout + done.stderr
        article = httpx.get(f"http://127.0.0.1:{port}/site/reviews/the-salt-road/index.html")
        assert article.status_code == 200 and "The Salt Road" in article.text
        assert (tmp_path / "var/redis/appendonlydir").is_dir()  # append-only persistence is on

        # /metrics and /ops take the stack's token, which it keeps in var/ops-token.
        token = (tmp_path / "var/ops-token").read_text().strip()
        refused = httpx.get(f"http://127.0.0.1:{port}/metrics")
        assert refused.status_code == 401 and "www-authenticate" in refused.headers
        scraped = httpx.get(f"http://127.0.0.1:{port}/metrics", headers={"authorization": f"Bearer {token}"})
        assert scraped.status_code == 200 and "marquee_submissions_published_total" in scraped.text
        assert httpx.get(f"http://127.0.0.1:{port}/ops", auth=("me", token)).status_code == 200

        assert private_modes(tmp_path / "var") == []
    finally:
        os.killpg(run.pid, signal.SIGINT)  # Ctrl-C
        output, _ = run.communicate(timeout=60)
    assert run.returncode == 0, output
    assert "stopped." in output
    assert "whsec_" not in output  # the secret stays in the writers file
    assert (tmp_path / "var/ops-token").read_text().strip() not in output  # and the ops token in its own
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", redis_port)) != 0, "redis-server outlived marquee run"
        assert probe.connect_ex(("127.0.0.1", port)) != 0, "ingest outlived marquee run"


def private_modes(var: Path) -> list[str]:
    """What under var/ another account could read or enter: nothing but the public site.

    The publish store is the site (0644 files, 0755 directories), and an archive file that
    was published is the same inode as its public copy; everything else is 0600 or 0700,
    Redis' files and the logs included."""
    publish = var / "publish"
    public = {(p.stat().st_dev, p.stat().st_ino) for p in publish.rglob("*") if p.is_file()}
    wrong = []
    for path in [var, *var.rglob("*")]:
        info = path.lstat()
        mode = info.st_mode & 0o777
        if path.is_socket():
            continue  # supervisord's socket: chmod=0700 in its configuration, checked by supervisord
        if path == publish or publish in path.parents:
            expected = 0o755 if path.is_dir() else 0o644
        elif path.is_dir():
            expected = 0o700
        elif (info.st_dev, info.st_ino) in public:
            expected = 0o644
        else:
            expected = 0o600
        if mode != expected:
            wrong.append(f"{path.relative_to(var)}: {mode:o}, not {expected:o}")
    assert (var / "redis/appendonlydir").is_dir() and (var / "log").is_dir() and (var / "archive").is_dir()
    return wrong


def test_events_tail_reads_new_events_as_a_consumer_group(local_stack):
    env = {**os.environ, "PYTHONPATH": str(REPO), "MARQUEE_REDIS_URL": local_stack.env["MARQUEE_REDIS_URL"]}
    group = f"test-{os.getpid()}"
    tail = subprocess.Popen(
        [*MARQUEE, "events", "tail", "--group", group, "--timeout", "5"],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    poll(
        lambda: any(g["name"] == group for g in local_stack.redis.xinfo_groups("marquee:events")),
        timeout=20,
        what="the consumer group",
    )
    before = local_stack.redis.xlen("marquee:events")
    submission_id = local_stack.submit(
        (REPO / "tests/fixtures/reviews/glasshouse.json").read_bytes().replace(b"Glasshouse", b"Glasshouse Tail")
    ).json()["id"]
    assert local_stack.wait_for(submission_id)["state"] == "published"
    output, _ = tail.communicate(timeout=60)  # it exits 5 s after the last event
    events = [json.loads(line) for line in output.splitlines()]
    ours = [e for e in events if e["data"]["id"] == submission_id]
    assert [e["type"] for e in ours] == ["review.published"]
    assert ours == local_stack.events("review.published", submission_id)  # each line is the stream's envelope
    assert all(violations(e) == [] for e in events)
    assert len(events) == local_stack.redis.xlen("marquee:events") - before  # nothing older, nothing twice
    pending = local_stack.redis.xpending("marquee:events", group)
    assert pending["pending"] == 0  # each one acknowledged
