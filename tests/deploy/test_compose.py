"""docker-compose.yml: valid per the Compose Specification, and wired the way Marquee needs."""

from __future__ import annotations

import copy
import json
import os
import re
import shlex
from importlib.resources import files
from urllib.parse import urlparse

import jsonschema
import pytest

from shared.config import Settings
from shared.queues import QUEUES
from tests.deploy.support import (
    COMPOSE_FILE,
    COMPOSE_REQUIRED,
    COMPOSE_TEST_ENV,
    MissingVariable,
    compose_environment,
    healthcheck_argv,
    healthcheck_runs,
    interpolate,
    interpolate_tree,
    load_compose,
    load_compose_raw,
    shell_argv,
)

WORKER_SERVICES = {f"worker-{queue}": queue for queue in QUEUES}
MARQUEE_SERVICES = {"ingest", "beat", "flower", *WORKER_SERVICES}
SENTINEL_PROFILE = {"redis-replica-1", "redis-replica-2", "sentinel-1", "sentinel-2", "sentinel-3"}


def compose_schema() -> dict:
    # The Compose Specification's schema, as check-jsonschema vendors it (vendor.compose-spec).
    return json.loads(files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json").read_text())


@pytest.fixture(scope="module")
def validator():
    schema = compose_schema()
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


@pytest.fixture(scope="module")
def compose() -> dict:
    return load_compose()


def errors(validator, document) -> list[str]:
    return [f"{e.json_path}: {e.message}" for e in validator.iter_errors(document)]


# --- the schema -----------------------------------------------------------------------------


def test_schema_is_the_compose_specification():
    schema = compose_schema()
    assert schema.get("title") == "Compose Specification"
    assert "services" in schema["properties"]


def test_compose_file_validates_against_the_compose_specification(validator, compose):
    assert errors(validator, load_compose_raw()) == []  # as written
    assert errors(validator, compose) == []  # as Compose sees it, variables filled in


@pytest.mark.parametrize("breakage", ["misspelt key", "bad depends_on condition", "bad healthcheck"])
def test_the_schema_check_catches_a_broken_file(validator, compose, breakage):
    broken = copy.deepcopy(compose)
    if breakage == "misspelt key":
        broken["services"]["ingest"]["comand"] = broken["services"]["ingest"].pop("command")
    elif breakage == "bad depends_on condition":
        broken["services"]["worker-render"]["depends_on"]["redis"]["condition"] = "service_up"
    else:
        broken["services"]["redis"]["healthcheck"]["test"] = {"cmd": "redis-cli ping"}
    assert errors(validator, broken)


# --- variables ---------------------------------------------------------------------------------


def test_missing_required_variables_stop_compose_with_a_message():
    missing: list[MissingVariable] = []
    interpolate_tree(load_compose_raw(), {}, missing)
    assert {m.name for m in missing} == COMPOSE_REQUIRED
    for m in missing:
        assert len(m.message) > 10, f"{m.name} should say what to set it to"
    # and each is required everywhere it is used: no default anywhere that would hide it
    for name in COMPOSE_REQUIRED:
        uses = re.findall(r"\$\{" + name + r"([^A-Za-z0-9_][^}]*)?\}", COMPOSE_FILE.read_text())
        assert uses and all(u.startswith(":?") for u in uses), f"{name} must always be ${{{name}:?…}}"
    with pytest.raises(MissingVariable):
        interpolate("${MINIO_ROOT_PASSWORD:?set it}", {"MINIO_ROOT_PASSWORD": ""})


def test_compose_will_not_start_ingest_without_an_ops_token():
    """Everything else set, a missing (or blank) MARQUEE_OPS_TOKEN stops `docker compose` with
    a message, and every service that runs ingest, and only those, get it."""
    for value in (None, ""):
        env = {k: v for k, v in COMPOSE_TEST_ENV.items() if k != "MARQUEE_OPS_TOKEN"}
        if value is not None:
            env["MARQUEE_OPS_TOKEN"] = value
        missing: list[MissingVariable] = []
        interpolate_tree(load_compose_raw(), env, missing)
        assert [m.name for m in missing] == ["MARQUEE_OPS_TOKEN"]
        assert "MARQUEE_OPS_TOKEN" in str(missing[0]) and "16" in missing[0].message
    compose = load_compose()
    for name, service in compose["services"].items():
        env = compose_environment(service)
        if service.get("command", [])[:2] == ["marquee", "ingest"]:
            assert env.get("MARQUEE_OPS_TOKEN") == COMPOSE_TEST_ENV["MARQUEE_OPS_TOKEN"], name
        else:
            assert "MARQUEE_OPS_TOKEN" not in env, f"{name} does not serve /ops and needs no ops token"
    assert "MARQUEE_OPS_TOKEN" in compose_environment(compose["services"]["ingest"])


def test_secrets_come_only_from_required_variables():
    raw = load_compose_raw()
    for name, service in raw["services"].items():
        for key, value in compose_environment(service).items():
            if re.search(r"PASSWORD|SECRET", key):
                assert re.fullmatch(r"\$\{[A-Z0-9_]+:\?[^}]+\}", value), (
                    f"{name}: {key} must come from a required variable, not {value!r}"
                )
    assert re.fullmatch(r"\$\{MARQUEE_WRITERS_FILE:\?[^}]+\}", raw["secrets"]["writers"]["file"])


def test_marquee_settings_are_complete_and_valid(compose, monkeypatch):
    required = {f"MARQUEE_{name.upper()}" for name, f in Settings.model_fields.items() if f.is_required()}
    for name in MARQUEE_SERVICES:
        env = compose_environment(compose["services"][name])
        assert required <= env.keys(), f"{name} lacks {required - env.keys()}"
        for key in list(os.environ):
            if key.startswith("MARQUEE_"):
                monkeypatch.delenv(key)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        Settings()  # raises on a bad value, e.g. a visibility timeout too short for the time limit


# --- the services ------------------------------------------------------------------------------


def marquee_image(compose) -> str:
    return compose["services"]["ingest"]["image"]


def test_every_marquee_service_runs_the_one_image(compose):
    for name in MARQUEE_SERVICES:
        service = compose["services"][name]
        assert service["image"] == marquee_image(compose), name
        assert service["build"]["context"] == ".", name
    others = set(compose["services"]) - MARQUEE_SERVICES
    assert others == {"redis", "minio", "minio-init", *SENTINEL_PROFILE}


def test_each_stage_has_one_worker_consuming_only_its_queue(compose):
    workers = {n: s for n, s in compose["services"].items() if "worker" in s.get("command", [])}
    assert set(workers) == set(WORKER_SERVICES)
    for name, service in workers.items():
        queue = WORKER_SERVICES[name]
        command = service["command"]
        assert command[:3] == ["marquee", "worker", queue], name
        extra = command[3:]
        # `marquee worker` passes -Q <queue> -n <queue>@%h; more of either would change them
        assert not {"-Q", "--queues", "-X", "--exclude-queues", "-n", "--hostname"} & set(extra), name
        assert not any(a.startswith(("--queues=", "--hostname=", "-Q", "-n")) for a in extra), name
        assert {"-E", "--task-events"} & set(extra), f"{name} must send task events for Flower"


def test_worker_healthchecks_ping_their_own_node(compose):
    for name, queue in WORKER_SERVICES.items():
        argv = shell_argv(healthcheck_runs(compose["services"][name]["healthcheck"]["test"]), {"HOSTNAME": "HOST"})
        assert argv[:5] == ["celery", "-A", "shared.broker.celery_app", "inspect", "ping"], name
        destination = argv[argv.index("-d") + 1]
        assert destination == f"{queue}@HOST", name


def test_workers_outlast_the_longest_task(compose):
    for name in WORKER_SERVICES:
        service = compose["services"][name]
        limit = int(
            compose_environment(service).get(
                "MARQUEE_TASK_TIME_LIMIT", Settings.model_fields["task_time_limit"].default
            )
        )
        grace = service["stop_grace_period"]
        grace_seconds = re.fullmatch(r"(\d+)s", grace)
        assert grace_seconds, f"{name}: {grace}"
        seconds = int(grace_seconds.group(1))
        assert seconds > limit, name


def test_ingest_listens_on_8000_on_every_interface(compose):
    ingest = compose["services"]["ingest"]
    assert ingest["command"] == ["marquee", "ingest"]
    env = compose_environment(ingest)
    assert env["MARQUEE_INGEST_HOST"] == "0.0.0.0"
    assert env["MARQUEE_INGEST_PORT"] == "8000"
    assert any(str(p).endswith(":8000") and str(p).split(":")[-2] == "8000" for p in ingest["ports"])


def test_ingest_and_the_workers_get_the_writers_file(compose):
    # Ingest verifies signatures with it; every stage that announces an event reads callbacks from it.
    for name in ("ingest", *WORKER_SERVICES):
        service = compose["services"][name]
        (secret,) = service["secrets"]
        path = secret["target"] if secret["target"].startswith("/") else f"/run/secrets/{secret['target']}"
        assert compose_environment(service)["MARQUEE_WRITERS_FILE"] == path, name
        assert compose["secrets"][secret["source"]]["file"] == COMPOSE_TEST_ENV["MARQUEE_WRITERS_FILE"]


def test_flower_reads_events_on_5555(compose):
    flower = compose["services"]["flower"]
    assert flower["command"][:4] == ["celery", "-A", "shared.broker.celery_app", "flower"]
    assert "--port=5555" in flower["command"]
    assert any(str(p).endswith("5555:5555") for p in flower["ports"])
    assert "5555/healthcheck" in " ".join(healthcheck_runs(flower["healthcheck"]["test"]))


def test_marquee_services_wait_for_redis_and_the_buckets(compose):
    for name in MARQUEE_SERVICES:
        depends = compose["services"][name]["depends_on"]
        assert depends["redis"]["condition"] == "service_healthy", name
        if name not in ("beat", "flower"):  # the two that never touch the stores
            assert depends["minio-init"]["condition"] == "service_completed_successfully", name


def test_beat_runs_once_with_a_healthcheck_on_its_schedule_file(compose):
    beat = compose["services"]["beat"]
    command = beat["command"]
    assert command[:2] == ["marquee", "beat"]
    assert "scale" not in beat and beat.get("deploy", {}).get("replicas", 1) == 1, "exactly one beat"
    schedule = command[command.index("--schedule-file") + 1]
    check = healthcheck_runs(beat["healthcheck"]["test"])
    assert check[:2] == ["python", "-c"] and f"'{schedule}*'" in check[2]


def test_redis_persists_and_never_evicts(compose):
    redis = compose["services"]["redis"]
    command = redis["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"
    assert healthcheck_argv(redis["healthcheck"]["test"]) == ["redis-cli", "ping"]
    assert any(v.endswith(":/data") for v in redis["volumes"])


def test_minio_init_makes_the_buckets_the_services_use(compose):
    ingest_env = compose_environment(compose["services"]["ingest"])
    archive = urlparse(ingest_env["MARQUEE_ARCHIVE_URL"]).netloc
    publish = urlparse(ingest_env["MARQUEE_PUBLISH_URL"]).netloc
    init = compose["services"]["minio-init"]
    assert init["depends_on"]["minio"]["condition"] == "service_healthy"
    assert compose["services"]["minio"]["healthcheck"]["test"]
    script = " ".join(init["command"]).replace("\\\n", " ")
    lines = [shlex.split(line) for line in script.splitlines() if line.strip().startswith("mc ")]
    made = {
        arg.removeprefix("local/")
        for line in lines
        if line[:2] == ["mc", "mb"]
        for arg in line[2:]
        if arg.startswith("local/")
    }
    assert {archive, publish} <= made
    anonymous = {line[4].removeprefix("local/"): line[3] for line in lines if line[:3] == ["mc", "anonymous", "set"]}
    assert anonymous.get(publish) == "download"  # readers fetch published files anonymously
    assert anonymous.get(archive, "none") == "none"  # the archive stays private
    # The Marquee services log in as the user minio-init makes, with the password it sets.
    ingest_s3 = (ingest_env["AWS_ACCESS_KEY_ID"], ingest_env["AWS_SECRET_ACCESS_KEY"])
    init_env = compose_environment(init)
    assert ingest_s3 == (init_env["MARQUEE_S3_ACCESS_KEY"], init_env["MARQUEE_S3_SECRET_KEY"])
    assert ingest_env["AWS_ENDPOINT_URL"] == "http://minio:9000"


def test_published_urls_point_at_minios_public_bucket(compose):
    env = compose_environment(compose["services"]["worker-upload"])  # the stage that writes the URLs
    base = urlparse(env["MARQUEE_PUBLIC_BASE_URL"])
    publish_bucket = urlparse(env["MARQUEE_PUBLISH_URL"]).netloc
    assert base.path.strip("/") == publish_bucket
    host_ports = [str(p).split(":") for p in compose["services"]["minio"]["ports"]]
    assert any(parts[-1] == "9000" and parts[-2] == str(base.port) and len(parts) == 2 for parts in host_ports), (
        "the public base URL's port must be MinIO's S3 port, published on every interface"
    )


# --- the sentinel profile --------------------------------------------------------------------------


def test_the_sentinel_profile_adds_two_replicas_and_three_sentinels_of_one_primary(compose):
    services = compose["services"]
    assert {name for name, s in services.items() if s.get("profiles")} == SENTINEL_PROFILE
    assert all(services[name]["profiles"] == ["sentinel"] for name in SENTINEL_PROFILE)
    for name in ("redis-replica-1", "redis-replica-2"):
        command = services[name]["command"]
        assert command[command.index("--replicaof") + 1 :][:2] == ["redis", "6379"], name
        assert command[command.index("--replica-announce-ip") + 1] == name, name  # reachable by that name
        assert "noeviction" in command and "--appendonly" in command, name  # as the primary
    masters = set()
    for name in ("sentinel-1", "sentinel-2", "sentinel-3"):
        script = services[name]["command"][2]
        monitor = re.search(r"sentinel monitor (\S+) redis 6379 (\d)", script)
        assert monitor and monitor.group(2) == "2", name  # a quorum of two of three
        masters.add(monitor.group(1))
        assert services[name]["hostname"] == name  # what it announces ($HOSTNAME), and Marquee's URL names
        assert "--sentinel" in script
    assert len(masters) == 1


def test_marquee_settings_on_the_sentinel_profile_are_valid(monkeypatch):
    raw = (COMPOSE_FILE.read_text()).split("services:")[0]
    url = re.search(r"export MARQUEE_REDIS_URL='([^']+)'", raw)
    master = re.search(r"export MARQUEE_REDIS_SENTINEL_MASTER=(\S+)", raw)
    assert url and master, "the file's header says how to point Marquee at the Sentinels"
    compose = load_compose(
        {**COMPOSE_TEST_ENV, "MARQUEE_REDIS_URL": url.group(1), "MARQUEE_REDIS_SENTINEL_MASTER": master.group(1)}
    )
    sentinels = {name for name in compose["services"] if name.startswith("sentinel-")}
    monitored = re.search(r"sentinel monitor (\S+)", compose["services"]["sentinel-1"]["command"][2])
    assert monitored and monitored.group(1) == master.group(1)
    for name in MARQUEE_SERVICES:
        env = compose_environment(compose["services"][name])
        for key in list(os.environ):
            if key.startswith("MARQUEE_"):
                monkeypatch.delenv(key)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        settings = Settings()
        assert {host for host, port in settings.redis.sentinels} == sentinels, name
        assert all(port == 26379 for _, port in settings.redis.sentinels)
