"""No hidden single-host assumption: ingest, beat and each stage's worker run as if on hosts of
their own (each its own working and temporary directory, its own copy of the configuration
files), sharing nothing but Redis, through Sentinel, and the S3 API (moto over HTTP); a
review still publishes. A directory store says at start-up that it serves one host only."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import httpx
import pytest

from shared.queues import QUEUES
from tests.conftest import fixture_bytes
from tests.support.processes import MotoS3, Stack, launched
from tests.support.sentinel import SentinelCluster

pytestmark = pytest.mark.integration


def test_services_in_separate_directories_sharing_only_redis_and_s3_publish_a_review(tmp_path):
    cluster = SentinelCluster(tmp_path / "sentinel").start()
    moto = MotoS3(tmp_path).start()
    moto.create_bucket("hosts-archive")
    moto.create_bucket("hosts-publish", public_read=True)
    stack = Stack(
        tmp_path / "stack",
        redis_url=cluster.url(),
        redis_sentinel_master=cluster.MASTER,
        archive_url="s3://hosts-archive/v1",
        publish_url="s3://hosts-publish",
        public_base_url=f"{moto.endpoint}/hosts-publish",
        extra_env=moto.env(),
        own_directories=True,
    )
    try:
        stack.start()
        processes = {"ingest": launched(stack.ingest), "beat": launched(stack.beat)} | {
            f"worker-{queue}": stack.workers[queue] for queue in QUEUES
        }
        # Each really runs where it was put: its own cwd and TMPDIR, none shared.
        cwds = {name: Path(os.readlink(f"/proc/{p.pid}/cwd")) for name, p in processes.items()}
        tmpdirs = {name: environ(p.pid)["TMPDIR"] for name, p in processes.items()}
        assert len(set(cwds.values())) == len(set(tmpdirs.values())) == len(processes)
        assert all(cwd == stack.host_dir(name) for name, cwd in cwds.items())

        body = json.loads(fixture_bytes("glasshouse.json")) | {"title": f"Many hosts {uuid.uuid4().hex[:8]}"}
        response = stack.submit(json.dumps(body).encode())
        assert response.status_code == 202, response.text
        status = stack.wait_for(response.json()["id"], timeout=90)
        assert status["state"] == "published", status
        manifest = httpx.get(status["urls"]["manifest"], timeout=10)  # from the S3 API, as a reader
        assert manifest.status_code == 200 and manifest.json()["id"] == response.json()["id"]
        # S3 stores: nobody warns of a one-host store.
        assert "store.one_host" not in (stack.dir / "ingest.log").read_text()
    finally:
        stack.stop()
        moto.stop()
        cluster.stop()


def environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def test_a_directory_store_says_at_start_up_that_it_serves_one_host_only(local_stack):
    # The session's local stack keeps both stores in directories: ingest and every worker
    # said so as they started, before any submission.
    for name in ("ingest", *(f"worker-{queue}" for queue in QUEUES)):
        lines = [
            json.loads(line)
            for line in (local_stack.dir / f"{name}.log").read_text().splitlines()
            if '"store.one_host"' in line
        ]
        assert {line["store"] for line in lines} >= {"archive", "publish"}, name
        assert "serves this host only" in lines[0]["detail"]
