"""Every command the Dockerfile, docker-compose.yml and deploy/k8s run exists in the installed
package and starts; and started as Compose configures them, the services answer their own
health checks and publish a review."""

from __future__ import annotations

import functools
import glob
import json
import os
import re
import signal
import socket
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest

from shared.queues import QUEUES
from shared.writers import new_secret
from tests.deploy.support import (
    BIN,
    REPO,
    by_kind,
    compose_environment,
    container_argv,
    dockerfile_stages,
    healthcheck_argv,
    healthcheck_command,
    healthcheck_runs,
    k8s_docs,
    load_compose,
    main_container,
    shell_argv,
)
from tests.support.processes import MotoS3, RedisServer, free_port, poll, stop_process

PROGRAMS = {"marquee", "celery", "python"}  # what the image's virtualenv provides
EXAMPLE_REVIEW = REPO / "examples" / "reviews" / "the-salt-road.txt"
BEAT_SCHEDULE = "/tmp/marquee-beat-schedule"


@functools.cache
def compose_services() -> dict[str, dict]:
    compose = load_compose()
    image = compose["services"]["ingest"]["image"]
    return {name: s for name, s in compose["services"].items() if s.get("image") == image}


@functools.cache
def k8s_deployments() -> dict[str, dict]:
    return {name: main_container(d) for name, d in by_kind(k8s_docs(), "Deployment").items()}


def commands() -> dict[tuple[str, ...], str]:
    """Every argv run in the Marquee image, with where it is named."""
    found: dict[tuple[str, ...], str] = {}
    final = dockerfile_stages()[1][-1]
    (cmd,) = final.all("CMD")
    found[tuple(json.loads(cmd.args))] = "Dockerfile CMD"
    found[tuple(healthcheck_command(final))] = "Dockerfile HEALTHCHECK"
    for name, service in compose_services().items():
        found[tuple(service["command"])] = f"compose {name}"
        if "healthcheck" in service:
            found[tuple(shell_argv(healthcheck_runs(service["healthcheck"]["test"]), {"HOSTNAME": "host"}))] = (
                f"compose {name} healthcheck"
            )
    for name, container in k8s_deployments().items():
        found[tuple(container_argv(container))] = f"k8s {name}"
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            if "exec" in container.get(probe, {}):
                found[tuple(shell_argv(container[probe]["exec"]["command"], {"HOSTNAME": "host"}))] = (
                    f"k8s {name} {probe}"
                )
    return found


def help_env(tmp_path: Path) -> dict[str, str]:
    # No Marquee settings: --help must not need them.
    return {"PATH": f"{BIN}{os.pathsep}/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8"}


def expected_usage(argv: tuple[str, ...]) -> str:
    if argv[0] == "marquee":
        return f"Usage: marquee {argv[1]}"
    words = list(argv[1:])
    if words[:1] == ["-A"]:
        words = words[2:]
    return f"Usage: celery {words[0]}"


def test_every_command_is_in_the_virtualenv():
    found = commands()
    assert len(found) >= 10, found
    for argv, where in found.items():
        assert argv[0] in PROGRAMS, f"{where}: {argv[0]} is not a program the image installs"
        assert (BIN / argv[0]).exists(), f"{where}: {BIN / argv[0]} is missing"


def test_every_command_starts_with_help(tmp_path):
    # One run per command path (`marquee worker`, `celery inspect`, …): --help does not read the
    # arguments after it, and the services below are started with their full arguments.
    by_usage: dict[str, tuple[tuple[str, ...], str]] = {}
    for argv, where in commands().items():
        if argv[0] != "python":
            by_usage.setdefault(expected_usage(argv), (argv, where))
    runnable: dict[tuple[str, ...], str] = dict(by_usage.values())

    def run(argv):
        return subprocess.run(
            [str(BIN / argv[0]), *argv[1:], "--help"],
            capture_output=True,
            text=True,
            env=help_env(tmp_path),
            cwd=tmp_path,
            timeout=60,
        )

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = dict(zip(runnable, pool.map(run, runnable), strict=False))
    for argv, result in results.items():
        where = runnable[argv]
        assert result.returncode == 0, f"{where}: {' '.join(argv)} --help failed:\n{result.stderr[-2000:]}"
        assert result.stdout.startswith(expected_usage(argv)), f"{where}: {result.stdout[:200]!r}"


def test_a_command_that_does_not_exist_fails_help(tmp_path):
    for argv in (("marquee", "wroker"), ("celery", "-A", "shared.broker.celery_app", "flowerr")):
        result = subprocess.run(
            [str(BIN / argv[0]), *argv[1:], "--help"],
            capture_output=True,
            text=True,
            env=help_env(tmp_path),
            cwd=tmp_path,
            timeout=60,
        )
        assert result.returncode != 0


def test_compose_and_kubernetes_run_the_same_commands():
    compose = {name.removeprefix("worker-"): tuple(s["command"]) for name, s in compose_services().items()}
    k8s = {
        name.removeprefix("marquee-").removeprefix("worker-"): tuple(container_argv(c))
        for name, c in k8s_deployments().items()
    }
    assert compose == k8s
    compose_checks = {
        name.removeprefix("worker-"): shell_argv(healthcheck_runs(s["healthcheck"]["test"]), {"HOSTNAME": "h"})
        for name, s in compose_services().items()
        if name.startswith("worker-")
    }
    for queue in QUEUES:
        container = k8s_deployments()[f"marquee-worker-{queue}"]
        for probe in ("readinessProbe", "livenessProbe"):
            assert shell_argv(container[probe]["exec"]["command"], {"HOSTNAME": "h"}) == compose_checks[queue]


# --- the services, started as Compose configures them ---------------------------------------


class Services:
    def __init__(self, workdir: Path, redis_server: RedisServer, moto: MotoS3):
        self.dir = workdir
        self.hostname = socket.gethostname()
        self.writers_file = workdir / "writers.json"
        self.writer_secret = new_secret()
        self.writers_file.write_text(json.dumps({"writers": {"dev": {"secrets": [self.writer_secret]}}}))
        self.ingest_port = free_port()
        self.flower_port = free_port()
        self.beat_schedule = str(workdir / "marquee-beat-schedule")  # not the machine's shared /tmp
        self.services = compose_services()
        self.processes: dict[str, subprocess.Popen] = {}
        self.log_files: list = []
        self.envs: dict[str, dict[str, str]] = {}
        self.moto = moto
        for name, service in self.services.items():
            env = compose_environment(service)
            # Compose's network names, as this machine reaches the servers standing in for them.
            assert env["MARQUEE_REDIS_URL"].startswith("redis://redis:6379/")
            env["MARQUEE_REDIS_URL"] = redis_server.url.replace("/0", "/" + env["MARQUEE_REDIS_URL"].rsplit("/", 1)[1])
            if "AWS_ENDPOINT_URL" in env:
                assert env["AWS_ENDPOINT_URL"] == "http://minio:9000"
                env["AWS_ENDPOINT_URL"] = moto.endpoint
            env["MARQUEE_WRITERS_FILE"] = str(self.writers_file)  # the secret's mount, here
            env["MARQUEE_INGEST_HOST"] = "127.0.0.1"  # loopback only, on this machine
            env["MARQUEE_INGEST_PORT"] = str(self.ingest_port)
            self.envs[name] = {
                "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
                "HOME": str(workdir),
                "LANG": "C.UTF-8",
                "HOSTNAME": self.hostname,
                **env,
            }

    def beat_path(self, argv: list[str]) -> list[str]:
        return [a.replace(BEAT_SCHEDULE, self.beat_schedule) for a in argv]

    def argv(self, name: str) -> list[str]:
        argv = list(self.services[name]["command"])
        if name == "beat":
            assert BEAT_SCHEDULE in argv
            argv = self.beat_path(argv)
        if name == "flower":
            argv = [
                a.replace("--port=5555", f"--port={self.flower_port}").replace(
                    "--address=0.0.0.0", "--address=127.0.0.1"
                )
                for a in argv
            ]
            assert f"--port={self.flower_port}" in argv
        return argv

    def start(self) -> Services:
        import boto3

        s3 = boto3.client(
            "s3",
            endpoint_url=self.moto.endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        env = self.envs["ingest"]
        for url in (env["MARQUEE_ARCHIVE_URL"], env["MARQUEE_PUBLISH_URL"]):  # as minio-init makes them
            s3.create_bucket(Bucket=urlparse(url).netloc)
        self.s3 = s3
        for name in self.services:
            log = open(self.dir / f"{name}.log", "ab")  # noqa: SIM115 - closed in stop()
            self.log_files.append(log)
            argv = self.argv(name)
            self.processes[name] = subprocess.Popen(
                [str(BIN / argv[0]), *argv[1:]],
                env=self.envs[name],
                cwd=self.dir,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def log(self, name: str) -> str:
        return (self.dir / f"{name}.log").read_text(errors="replace")

    def wait(self) -> None:
        try:
            poll(
                lambda: httpx.get(f"http://127.0.0.1:{self.ingest_port}/healthz", timeout=2).status_code == 200,
                timeout=30,
                what="ingest /healthz",
            )
            for name in self.services:
                if name.startswith("worker-"):
                    poll(lambda: "ready." in self.log(name), timeout=40, what=name)
            poll(
                lambda: httpx.get(f"http://127.0.0.1:{self.flower_port}/healthcheck", timeout=2).status_code == 200,
                timeout=30,
                what="flower",
            )
            poll(lambda: glob.glob(self.beat_schedule + "*"), timeout=30, what="beat's schedule file")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.logs()}") from None

    def logs(self) -> str:
        return "\n".join(f"--- {name}.log\n{self.log(name)[-3000:]}" for name in self.services)

    def run(self, name: str, argv: list[str], timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(argv, env=self.envs[name], cwd=self.dir, capture_output=True, text=True, timeout=timeout)

    def stop(self) -> None:
        # SIGTERM to all at once (each leads its own process group), then wait for each.
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            stop_process(process)
        for log in self.log_files:
            log.close()


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("compose-services")
    redis_server = RedisServer(workdir / "redis").start()
    moto = MotoS3(workdir).start()
    running = Services(workdir, redis_server, moto).start()
    try:
        running.wait()
        yield running
    finally:
        running.stop()
        moto.stop()
        redis_server.stop()


@pytest.mark.integration
def test_ingest_answers_the_images_healthcheck_and_the_kubernetes_probes(services):
    final = dockerfile_stages()[1][-1]
    result = services.run("ingest", healthcheck_command(final))
    assert result.returncode == 0, result.stderr
    container = k8s_deployments()["marquee-ingest"]
    for probe in ("readinessProbe", "livenessProbe"):
        path = container[probe]["httpGet"]["path"]
        response = httpx.get(f"http://127.0.0.1:{services.ingest_port}{path}", timeout=10)
        assert response.status_code == 200, f"{probe} {path}: {response.text}\n{services.logs()}"


@pytest.mark.integration
def test_ingest_as_composed_serves_metrics_and_ops_only_with_the_token(services):
    url = f"http://127.0.0.1:{services.ingest_port}"
    token = services.envs["ingest"]["MARQUEE_OPS_TOKEN"]  # COMPOSE_TEST_ENV's, as `docker compose` fills it in
    for path in ("/metrics", "/ops"):
        refused = httpx.get(url + path, timeout=10)
        assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Basic "), path
        wrong = httpx.get(url + path, headers={"authorization": "Bearer " + "x" * len(token)}, timeout=10)
        assert wrong.status_code == 401, path
    scraped = httpx.get(url + "/metrics", headers={"authorization": f"Bearer {token}"}, timeout=10)
    assert scraped.status_code == 200 and "marquee_queue_messages" in scraped.text


@pytest.mark.integration
def test_each_worker_answers_its_healthcheck(services):
    checks = {
        name: healthcheck_argv(s["healthcheck"]["test"])
        for name, s in services.services.items()
        if name.startswith("worker-")
    }
    # A ping to a node that is not there must fail, or the checks prove nothing.
    nobody = [
        "celery",
        "-A",
        "shared.broker.celery_app",
        "inspect",
        "ping",
        "-d",
        f"nobody@{services.hostname}",
        "-t",
        "1",
    ]
    with ThreadPoolExecutor(max_workers=3) as pool:
        absent_future = pool.submit(services.run, "worker-validate", nobody)
        results = dict(zip(checks, pool.map(lambda n: services.run(n, checks[n]), checks), strict=False))
        absent = absent_future.result()
    for name, result in results.items():
        assert result.returncode == 0, (
            f"{name}: {checks[name]}\n{result.stdout}{result.stderr}\n{services.log(name)[-2000:]}"
        )
        assert f"{name.removeprefix('worker-')}@{services.hostname}: OK" in result.stdout
    assert absent.returncode != 0


@pytest.mark.integration
def test_flower_answers_its_healthcheck(services):
    argv = healthcheck_runs(services.services["flower"]["healthcheck"]["test"])
    argv = [a.replace(":5555/", f":{services.flower_port}/") for a in argv]
    assert any(f":{services.flower_port}/" in a for a in argv)
    result = services.run("flower", argv)
    assert result.returncode == 0, result.stderr
    container = k8s_deployments()["marquee-flower"]
    for probe in ("readinessProbe", "livenessProbe"):
        response = httpx.get(
            f"http://127.0.0.1:{services.flower_port}{container[probe]['httpGet']['path']}", timeout=10
        )
        assert response.status_code == 200


@pytest.mark.integration
def test_beat_answers_its_healthcheck_and_probes(services):
    checks = [healthcheck_runs(services.services["beat"]["healthcheck"]["test"])]
    container = k8s_deployments()["marquee-beat"]
    checks += [container[probe]["exec"]["command"] for probe in ("readinessProbe", "livenessProbe")]
    for argv in checks:
        assert any(BEAT_SCHEDULE in a for a in argv), argv
        result = services.run("beat", services.beat_path(argv))
        assert result.returncode == 0, f"{argv}\n{result.stderr}\n{services.log('beat')[-2000:]}"
    elsewhere = [a.replace(BEAT_SCHEDULE, str(services.dir / "no-such-schedule")) for a in checks[0]]
    assert services.run("beat", elsewhere).returncode != 0  # the check looks at the file


@pytest.mark.integration
def test_a_submitted_review_is_published_at_the_public_base_url(services):
    result = services.run(
        "ingest",
        [
            str(BIN / "marquee"),
            "submit",
            str(EXAMPLE_REVIEW),
            "--writer",
            "dev",
            "--url",
            f"http://127.0.0.1:{services.ingest_port}",
            "--writers-file",
            str(services.writers_file),
            "--wait",
            "--timeout",
            "60",
        ],
        timeout=90,
    )
    assert result.returncode == 0, f"{result.stdout}{result.stderr}\n{services.logs()}"
    assert re.search(r"^state:\s+published$", result.stdout, re.M), result.stdout
    article_line = re.search(r"^article:\s+(\S+)$", result.stdout, re.M)
    assert article_line, result.stdout
    article = article_line.group(1)
    env = services.envs["worker-upload"]
    base = env["MARQUEE_PUBLIC_BASE_URL"].rstrip("/")
    assert article.startswith(base + "/"), article
    key = article.removeprefix(base + "/")
    bucket = urlparse(env["MARQUEE_PUBLISH_URL"]).netloc
    head = services.s3.head_object(Bucket=bucket, Key=key)  # what MinIO would serve at that URL
    assert head["ContentType"].startswith("text/html")
