"""A worker process killed with SIGKILL mid-stage loses nothing, and publishes once."""

from __future__ import annotations

import os
import signal
import time

import pytest

from tests.conftest import fixture_bytes
from tests.support.processes import Stack, poll

pytestmark = pytest.mark.integration

VISIBILITY_TIMEOUT = 6


@pytest.fixture(scope="module")
def short_stack(tmp_path_factory, redis_server):
    """A stack whose broker gives up on an unacked message after a few seconds."""
    root = tmp_path_factory.mktemp("short-stack")
    stack = Stack(
        root,
        redis_url=redis_server.url.replace("/0", "/3"),
        archive_url=str(root / "archive"),
        publish_url=str(root / "publish"),
        extra_env={
            "MARQUEE_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
            "MARQUEE_TASK_TIME_LIMIT": "4",
            "MARQUEE_TASK_SOFT_TIME_LIMIT": "3",
            "MARQUEE_RETRY_BACKOFF_MAX": "1",
            "MARQUEE_UNACKED_RESTORE_INTERVAL": "1",
        },
    )
    yield stack.start()
    stack.stop()


def hold(stack: Stack, task: str, title: bytes) -> tuple[str, int]:
    """Submit a review and hold it inside ``task``; return its id and the pid running it."""
    (stack.pause_dir / task).touch()
    body = fixture_bytes("glasshouse.json").replace(b"Glasshouse", title)
    submission_id = stack.submit(body).json()["id"]
    pid_file = stack.pause_dir / f"{task}.pid"
    pid = int(poll(lambda: pid_file.exists() and pid_file.read_text(), timeout=30, what=f"{task} to start"))
    pid_file.unlink()
    return submission_id, pid


def assert_published_once(stack: Stack, submission_id: str, *, timeout: float) -> dict:
    record = stack.wait_for(submission_id, timeout=timeout)
    assert record["state"] == "published", record
    assert [h["state"] for h in record["history"]].count("published") == 1
    assert len(stack.events("review.published", submission_id)) == 1
    return record


def test_a_killed_pool_process_has_its_task_run_again_promptly(local_stack):
    # local_stack keeps the default one-hour visibility timeout: a prompt publication
    # shows the task was handed back by the worker, not by the broker's timeout.
    submission_id, pid = hold(local_stack, "marquee.render", b"Pool Loss")
    assert pid != local_stack.workers["render"].pid  # a pool child, not the worker itself
    os.kill(pid, signal.SIGKILL)
    (local_stack.pause_dir / "marquee.render").unlink()
    started = time.monotonic()
    assert_published_once(local_stack, submission_id, timeout=30)
    assert time.monotonic() - started < 30
    # The worker itself lived through the loss of its child.
    assert local_stack.workers["render"].poll() is None


def test_a_killed_worker_has_its_task_redelivered_after_the_visibility_timeout(short_stack):
    submission_id, _ = hold(short_stack, "marquee.upload", b"Worker Loss")
    worker = short_stack.workers["upload"]
    os.killpg(worker.pid, signal.SIGKILL)  # the main process and its pool, at once
    worker.wait()
    killed_at = time.monotonic()
    (short_stack.pause_dir / "marquee.upload").unlink()
    assert short_stack.status(submission_id)["state"] == "social_ready"

    short_stack.start_worker("upload")  # as a supervisor would restart it
    record = assert_published_once(short_stack, submission_id, timeout=60)
    waited = time.monotonic() - killed_at
    assert waited >= VISIBILITY_TIMEOUT - 1, f"redelivered after {waited:.1f}s, before the visibility timeout"
    assert record["urls"]["manifest"]
