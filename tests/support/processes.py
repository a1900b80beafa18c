"""Real servers for integration tests: redis-server, moto's S3 server, ingest and workers.

Every server binds to 127.0.0.1 on a free port and is stopped by the fixture that
started it. Nothing here talks to a server somebody else started.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import cast

import httpx
import redis

from shared.connection import connect, parse_redis_address
from shared.envelope import from_stream
from shared.queues import QUEUES
from shared.writers import new_secret, sign

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

# Called with each Stack once it has stopped (its Redis still up): tests/conftest.py checks
# every event the stack emitted against the published schemas here.
STOP_HOOKS: list[Callable[[Stack], None]] = []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rewrite(path: Path, text: str) -> None:
    """Replace a watched file's text, with a new mtime even on a coarse-clocked filesystem."""
    before = path.stat().st_mtime
    path.write_text(text)
    later = max(before + 1, time.time())
    os.utime(path, (later, later))


def launched(process: subprocess.Popen | None) -> subprocess.Popen:
    """``process``, which a test or bench holds once it has started it."""
    assert process is not None, "the process has not been started"
    return process


def read_stream(client: redis.Redis, name: str, *, min: str = "-") -> list[tuple[str, dict[str, str]]]:
    """XRANGE from ``min``: (entry id, fields) pairs; the clients here decode, so all str
    (redis-py's types allow bytes, and RESP3's shapes, too)."""
    return cast("list[tuple[str, dict[str, str]]]", client.xrange(name, min=min))


def poll(check: Callable[[], object], *, timeout: float, what: str, interval: float = 0.05):
    """Call ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except Exception as exc:  # noqa: BLE001 - not ready yet
            last_error = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last error: {last_error!r})")


def stop_processes(*processes: subprocess.Popen | None, grace: float = 10) -> None:
    """SIGTERM every process group at once, then wait for all; SIGKILL what outlives ``grace``."""
    running = [p for p in processes if p is not None and p.poll() is None]
    for process in running:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for process in running:
        try:
            process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def stop_process(process: subprocess.Popen, *, grace: float = 10) -> None:
    stop_processes(process, grace=grace)


# For tests of an operator's own commands (``marquee reconcile``): a sweeper that would look
# only after the test is over, so it neither reconciles nor sends anything on before them.
NO_SWEEPER = {"MARQUEE_SWEEP_INTERVAL": "3600", "MARQUEE_SWEEP_STALLED_AFTER": "7200"}


class RedisServer:
    def __init__(self, workdir: Path, *, extra_args: tuple[str, ...] = ()):
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.extra_args = extra_args  # e.g. --replicaof, for a replica of tests/support/sentinel.py
        self.process: subprocess.Popen | None = None

    def start(self) -> RedisServer:
        server = shutil.which("redis-server")
        assert server, "redis-server is not installed (make test installs it)"
        self.process = subprocess.Popen(
            [
                server,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dir",
                str(self.dir),
                "--appendonly",
                "yes",
                "--save",
                "",
                "--maxmemory-policy",
                "noeviction",
                *self.extra_args,
            ],
            stdout=open(self.dir / "redis.log", "ab"),  # noqa: SIM115 - the child writes to it for as long as it lives
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        client = redis.Redis.from_url(self.url)
        poll(client.ping, timeout=10, what="redis-server")
        return self

    def stop(self) -> None:
        if self.process:
            stop_process(self.process)

    def restart(self) -> None:
        """Stop (SIGTERM: Redis flushes its append-only file) and start again on the same port."""
        self.stop()
        self.start()


class MotoS3:
    """moto in server mode: the S3 API over real HTTP, in its own process."""

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log = workdir / "moto.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> MotoS3:
        self.process = subprocess.Popen(
            [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=open(self.log, "ab"),  # noqa: SIM115 - the child writes to it for as long as it lives
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        poll(lambda: httpx.get(self.endpoint, timeout=1).status_code < 500, timeout=20, what="moto server")
        return self

    def env(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def create_bucket(self, name: str, *, public_read: bool = False) -> None:
        import boto3

        client = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )
        client.create_bucket(Bucket=name)
        if public_read:  # as a publish bucket is: anyone may read, only Marquee writes
            client.put_bucket_policy(
                Bucket=name,
                Policy=json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": "*",
                                "Action": "s3:GetObject",
                                "Resource": f"arn:aws:s3:::{name}/*",
                            }
                        ],
                    }
                ),
            )

    def stop(self) -> None:
        if self.process:
            stop_process(self.process)


class Stack:
    """The ingest service and one Celery worker per queue, as `make run` starts them."""

    def __init__(
        self,
        workdir: Path,
        *,
        redis_url: str,
        redis_sentinel_master: str | None = None,
        archive_url: str,
        publish_url: str,
        public_base_url: str | None = None,
        extra_env: dict[str, str] | None = None,
        include: str = "tests.support.pause,tests.support.hosts",
        concurrency: int = 1,
        own_directories: bool = False,
    ):
        self.dir = workdir
        # Each process in a working and a temporary directory of its own, as on separate hosts
        # (tests/integration/test_many_hosts.py): nothing may pass between them through files.
        self.own_directories = own_directories
        self.dir.mkdir(parents=True, exist_ok=True)
        self.include = include  # test-only worker modules (pause, hosts, poison), loaded by celery --include
        self.concurrency = concurrency
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.pause_dir = self.dir / "pause"
        self.pause_dir.mkdir(exist_ok=True)
        self.secret = new_secret()
        self.other_secret = new_secret()
        self.fuzz_secret = new_secret()
        self.writers_file = self.dir / "writers.json"
        self.writers_file.write_text(
            json.dumps(
                {
                    "writers": {
                        # Rotation: either secret verifies. The suite submits as alice far more often
                        # than a person would; the rate limit has a test (and a writer) of its own.
                        "alice": {"secrets": [new_secret(), self.secret], "rate_limit": "1000/minute"},
                        "bob": {"secrets": [self.other_secret]},
                        # The fuzzing tests send thousands of requests; the default limit is for people.
                        "fuzz": {"secrets": [self.fuzz_secret], "rate_limit": "100000/minute"},
                    }
                }
            )
        )
        # Re-read on change, so a test can add subscribers to a running stack.
        self.subscribers_file = self.dir / "subscribers.json"
        self.subscribers_file.write_text(json.dumps({"subscribers": {}}))
        # Names the workers resolve without DNS (tests/support/hosts.py), for the SSRF guard's tests.
        self.hosts_file = self.dir / "hosts.json"
        self.hosts_file.write_text("{}")
        self.redis = (
            connect(parse_redis_address(redis_url, redis_sentinel_master))  # through the Sentinels, as the services
            if redis_sentinel_master
            else redis.Redis.from_url(redis_url, decode_responses=True)
        )
        # /ops and /metrics never open without a token, so a stack has one, as `make run`'s has.
        self.ops_token = "ops_" + secrets.token_urlsafe(24)
        self.env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "MARQUEE_REDIS_URL": redis_url,
            "MARQUEE_ARCHIVE_URL": archive_url,
            "MARQUEE_PUBLISH_URL": publish_url,
            "MARQUEE_PUBLIC_BASE_URL": public_base_url or f"{self.url}/site",
            "MARQUEE_WRITERS_FILE": str(self.writers_file),
            "MARQUEE_INGEST_PORT": str(self.port),
            "MARQUEE_TEST_PAUSE_DIR": str(self.pause_dir),
            "MARQUEE_SUBSCRIBERS_FILE": str(self.subscribers_file),
            "MARQUEE_RELEASE_INTERVAL": "1",
            # The receivers listen on 127.0.0.1, which the SSRF guard refuses unless allowed;
            # the rest of loopback (127.0.0.2, ::1) stays refused, for the guard's own tests.
            "MARQUEE_OUTBOUND_ALLOW": "127.0.0.1/32",
            "MARQUEE_TEST_HOSTS_FILE": str(self.hosts_file),
            "MARQUEE_OPS_TOKEN": self.ops_token,
            # A teaser video costs seconds of CPU a review: only the tests about it make them
            # (extra_env={"MARQUEE_VIDEO_ENABLED": "1"}); the video worker runs all the same.
            "MARQUEE_VIDEO_ENABLED": "0",
            **({"MARQUEE_REDIS_SENTINEL_MASTER": redis_sentinel_master} if redis_sentinel_master else {}),
            **(extra_env or {}),
        }
        self.ingest: subprocess.Popen | None = None
        self.workers: dict[str, subprocess.Popen] = {}
        self.beat: subprocess.Popen | None = None
        self.client = httpx.Client(base_url=self.url, timeout=30)

    @property
    def ops_headers(self) -> dict[str, str]:
        """What a Prometheus scrape or an operator's script sends to /metrics and /ops."""
        return {"authorization": f"Bearer {self.env['MARQUEE_OPS_TOKEN']}"}

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        cwd, env = REPO, self.env
        if self.own_directories:
            # Its own working and temporary directories, and its own copy of the configuration
            # files, as a deployment mounts them on each host.
            cwd, tmp = self.host_dir(name), self.host_dir(name).parent / "tmp"
            tmp.mkdir(parents=True, exist_ok=True)
            for source in (self.writers_file, self.subscribers_file):
                shutil.copyfile(source, cwd / source.name)
            env = {
                **self.env,
                "TMPDIR": str(tmp),
                "HOME": str(cwd),
                "MARQUEE_WRITERS_FILE": str(cwd / self.writers_file.name),
                "MARQUEE_SUBSCRIBERS_FILE": str(cwd / self.subscribers_file.name),
            }
        return subprocess.Popen(
            [sys.executable, "-m", "services.cli.main", *args],
            env=env,
            cwd=cwd,
            stdout=open(self.dir / f"{name}.log", "ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def host_dir(self, name: str) -> Path:
        """The working directory of process ``name`` when each has its own (``own_directories``)."""
        path = self.dir / "hosts" / name / "work"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def start_worker(self, queue: str) -> subprocess.Popen:
        # The pause module lets a test hold a task mid-stage to kill its process.
        process = self._spawn(
            f"worker-{queue}", ["worker", queue, "--concurrency", str(self.concurrency), "--include", self.include]
        )
        self.workers[queue] = process
        return process

    def start(self) -> Stack:
        self.ingest = self._spawn("ingest", ["ingest"])
        for queue in QUEUES:
            self.start_worker(queue)
        schedule = (self.host_dir("beat") if self.own_directories else self.dir) / "beat-schedule"
        self.beat = self._spawn("beat", ["beat", "--schedule-file", str(schedule)])
        poll(lambda: self.client.get("/readyz").status_code == 200, timeout=30, what="ingest /readyz")
        for queue in QUEUES:
            self.wait_for_worker(queue)
        return self

    def wait_for_worker(self, queue: str) -> None:
        # A worker is consuming once its log says so; the message is Celery's own.
        log = self.dir / f"worker-{queue}.log"
        offset = getattr(self, "_log_offsets", {}).get(queue, 0)
        poll(lambda: "ready." in log.read_text(errors="replace")[offset:], timeout=40, what=f"worker {queue}")
        self._log_offsets = {**getattr(self, "_log_offsets", {}), queue: len(log.read_text(errors="replace"))}

    def stop(self) -> None:
        stop_processes(*self.workers.values(), self.ingest, self.beat)
        self.client.close()
        for hook in STOP_HOOKS:
            hook(self)

    def subscribe(self, name: str, url: str, *events: str) -> str:
        """Add an outbound webhook subscriber; return its secret."""
        data = json.loads(self.subscribers_file.read_text())
        secret = new_secret()
        data["subscribers"][name] = {"url": url, "secrets": [secret], "events": list(events)}
        rewrite(self.subscribers_file, json.dumps(data))
        return secret

    def unsubscribe(self, name: str) -> None:
        """Remove a subscriber ``subscribe`` added: the session's stacks are shared by many tests."""
        data = json.loads(self.subscribers_file.read_text())
        data["subscribers"].pop(name, None)
        rewrite(self.subscribers_file, json.dumps(data))

    def add_host(self, name: str, *addresses: str) -> None:
        """Make ``name`` resolve to ``addresses`` in the workers (tests/support/hosts.py)."""
        hosts = json.loads(self.hosts_file.read_text())
        rewrite(self.hosts_file, json.dumps(hosts | {name: list(addresses)}))

    def python(self, code: str) -> subprocess.CompletedProcess:
        """Run Python code in a process configured as the services are."""
        return subprocess.run(
            [sys.executable, "-c", code], env=self.env, cwd=REPO, capture_output=True, text=True, timeout=60
        )

    def marquee(self, *args: str) -> subprocess.CompletedProcess:
        """Run a `marquee` command as an operator would, with the services' settings."""
        return subprocess.run(
            [sys.executable, "-m", "services.cli.main", *args],
            env=self.env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )

    # What a writer does.
    def submit(
        self,
        body: bytes,
        *,
        content_type: str = "application/json",
        writer: str = "alice",
        secret: str | None = None,
        msg_id: str | None = None,
        timestamp: int | None = None,
        params: dict | None = None,
        headers: dict | None = None,
    ) -> httpx.Response:
        signed = sign(
            secret or self.secret,
            msg_id=msg_id or f"msg_{uuid.uuid4().hex}",
            timestamp=timestamp or int(time.time()),
            body=body,
        )
        return self.client.post(
            f"/v1/writers/{writer}/reviews",
            content=body,
            params=params,
            headers={**signed, "content-type": content_type, **(headers or {})},
        )

    def withdraw(self, submission_id: str, *, secret: str | None = None) -> httpx.Response:
        # The body names the review, so the signature is good for it alone.
        body = json.dumps({"id": submission_id}).encode()
        signed = sign(secret or self.secret, msg_id=f"msg_{uuid.uuid4().hex}", timestamp=int(time.time()), body=body)
        return self.client.request(
            "DELETE",
            f"/v1/reviews/{submission_id}",
            content=body,
            headers={**signed, "content-type": "application/json"},
        )

    def status(self, submission_id: str) -> dict:
        response = self.client.get(f"/v1/reviews/{submission_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def wait_for(self, submission_id: str, *states: str, timeout: float = 60) -> dict:
        states = states or ("published", "rejected", "failed")
        return poll(
            lambda: (s := self.status(submission_id))["state"] in states and s,
            timeout=timeout,
            what=f"{submission_id} to reach {states}",
        )

    def events(self, type_: str, submission_id: str) -> list[dict]:
        """The envelopes of the events of ``type_`` about ``submission_id``, oldest first,
        picked by the entries' plain fields as a consumer filters them."""
        return [
            from_stream(fields)
            for _, fields in read_stream(self.redis, "marquee:events")
            if fields.get("type") == type_ and fields.get("id") == submission_id
        ]
