"""deploy/k8s: valid Kubernetes objects (kubernetes-validate), KEDA objects by structure,
and wired the way Marquee needs: one Deployment per service, probes, limits, grace."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from shared.config import Settings
from shared.queues import QUEUES
from tests.deploy.support import (
    BIN,
    K8S_DIR,
    SECRET_TEMPLATE,
    K8sDoc,
    by_kind,
    container_argv,
    k8s_docs,
    k8s_files,
    main_container,
    pod_spec,
    shell_argv,
)

WORKERS = {f"marquee-worker-{queue}": queue for queue in QUEUES}
KUBERNETES_VERSIONS = [None, "1.30.0"]  # kubernetes-validate's newest, and an older one still run


@pytest.fixture(scope="module")
def docs() -> list[K8sDoc]:
    return k8s_docs()


@pytest.fixture(scope="module")
def deployments(docs) -> dict[str, K8sDoc]:
    return by_kind(docs, "Deployment")


@pytest.fixture(scope="module")
def config(docs) -> dict[str, str]:
    return by_kind(docs, "ConfigMap")["marquee-config"].body["data"]


@pytest.fixture(scope="module")
def secrets(docs) -> dict[str, dict[str, str]]:
    return {name: d.body.get("stringData", {}) for name, d in by_kind(docs, "Secret").items()}


def kubernetes_validate(paths: list[Path], version: str | None) -> subprocess.CompletedProcess:
    argv = [str(BIN / "kubernetes-validate"), "--strict", *(["-k", version] if version else []), *map(str, paths)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def split_documents(docs: list[K8sDoc], directory: Path) -> list[Path]:
    paths = []
    for doc in docs:
        path = directory / f"{doc.file.stem}-{doc.index}.yaml"
        path.write_text(yaml.safe_dump(doc.body))
        paths.append(path)
    return paths


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS, ids=lambda v: v or "latest")
def test_kubernetes_objects_validate(docs, tmp_path, version):
    core = [d for d in docs if not d.is_keda]  # KEDA's CRDs are checked by structure below
    paths = split_documents(core, tmp_path)
    result = kubernetes_validate(paths, version)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(" passed ") == len(core), result.stdout


def test_kubernetes_validate_catches_a_broken_object(deployments, tmp_path):
    broken = yaml.safe_load(yaml.safe_dump(deployments["marquee-ingest"].body))
    broken["spec"]["replicas"] = "two"
    broken["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["pathh"] = "/healthz"
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(broken))
    result = kubernetes_validate([path], None)
    assert result.returncode != 0 and "did not validate" in result.stdout


def test_only_keda_objects_are_left_to_structure_checks(docs):
    assert {(d.body["apiVersion"], d.kind) for d in docs if d.is_keda} == {
        ("keda.sh/v1alpha1", "ScaledObject"),
        ("keda.sh/v1alpha1", "TriggerAuthentication"),
    }


def test_kustomization_lists_every_manifest_but_the_secret_template():
    kustomization = yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text())
    assert kustomization["apiVersion"] == "kustomize.config.k8s.io/v1beta1"
    assert kustomization["kind"] == "Kustomization"
    listed = {(K8S_DIR / r).resolve() for r in kustomization["resources"]}
    assert all(p.exists() for p in listed), listed
    assert listed == {p.resolve() for p in k8s_files()} - {SECRET_TEMPLATE.resolve()}
    assert [i["name"] for i in kustomization["images"]] == ["marquee"]


# --- Deployments ---------------------------------------------------------------------------------


def test_one_deployment_per_service_all_on_the_marquee_image(deployments):
    assert set(deployments) == {"marquee-ingest", "marquee-beat", "marquee-flower", *WORKERS}
    for name, deployment in deployments.items():
        assert main_container(deployment)["image"] == "marquee", name  # kustomization's images: sets it


def test_each_worker_consumes_only_its_queue(deployments):
    for name, queue in WORKERS.items():
        argv = container_argv(main_container(deployments[name]))
        assert argv[:3] == ["marquee", "worker", queue], name
        assert not {"-Q", "--queues", "-X", "--exclude-queues", "-n", "--hostname"} & set(argv[3:]), name
        assert {"-E", "--task-events"} & set(argv[3:]), f"{name} must send task events for Flower"


def test_probes_requests_and_limits_everywhere(deployments):
    for name, deployment in deployments.items():
        container = main_container(deployment)
        assert container.get("readinessProbe") and container.get("livenessProbe"), name
        resources = container["resources"]
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= resources[kind].keys(), f"{name}: {kind}"


def test_worker_probes_ping_their_own_node(deployments):
    for name, queue in WORKERS.items():
        container = main_container(deployments[name])
        for probe in ("readinessProbe", "livenessProbe"):
            argv = shell_argv(container[probe]["exec"]["command"], {"HOSTNAME": "POD"})
            assert argv[:5] == ["celery", "-A", "shared.broker.celery_app", "inspect", "ping"], f"{name} {probe}"
            assert argv[argv.index("-d") + 1] == f"{queue}@POD", f"{name} {probe}"
            timeout = float(argv[argv.index("-t") + 1])
            assert container[probe]["timeoutSeconds"] > timeout, f"{name} {probe}: the ping must fit in the probe"


def test_ingest_probes_and_service(deployments, docs):
    ingest = deployments["marquee-ingest"]
    container = main_container(ingest)
    assert container_argv(container) == ["marquee", "ingest"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["port"] in (*ports, *ports.values())
    service = by_kind(docs, "Service")["marquee-ingest"].body
    labels = ingest.body["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] in (*ports, *ports.values())


def test_ingest_port_and_host_match_the_settings(deployments, config):
    ports = [p["containerPort"] for p in main_container(deployments["marquee-ingest"])["ports"]]
    assert ports == [int(config["MARQUEE_INGEST_PORT"])]
    assert config["MARQUEE_INGEST_HOST"] == "0.0.0.0"


def test_grace_period_outlasts_the_longest_task(deployments, config):
    limit = int(config.get("MARQUEE_TASK_TIME_LIMIT", Settings.model_fields["task_time_limit"].default))
    for name in WORKERS:
        assert pod_spec(deployments[name])["terminationGracePeriodSeconds"] > limit, name


def test_pods_run_unprivileged_without_service_links(deployments):
    for name, deployment in deployments.items():
        spec = pod_spec(deployment)
        # A Service named marquee-ingest would otherwise set MARQUEE_INGEST_PORT=tcp://… in every pod.
        assert spec["enableServiceLinks"] is False, name
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] != 0, name
        context = main_container(deployment)["securityContext"]
        assert context["allowPrivilegeEscalation"] is False, name
        assert context["capabilities"]["drop"] == ["ALL"], name


def env_sources(deployment: K8sDoc) -> tuple[set[str], set[str], set[tuple[str, str, str]]]:
    """The ConfigMaps and Secrets a pod's environment comes from whole, and each variable
    taken from one key of a Secret: (variable, Secret, key)."""
    container = main_container(deployment)
    maps = {s["configMapRef"]["name"] for s in container.get("envFrom", []) if "configMapRef" in s}
    secret_refs = {s["secretRef"]["name"] for s in container.get("envFrom", []) if "secretRef" in s}
    keys = {
        (e["name"], e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]["key"])
        for e in container.get("env", [])
        if "secretKeyRef" in e.get("valueFrom", {})
    }
    return maps, secret_refs, keys


def test_settings_are_complete_and_valid_in_every_pod(deployments, config, secrets, monkeypatch):
    for name, deployment in deployments.items():
        maps, secret_refs, keys = env_sources(deployment)
        assert maps == {"marquee-config"}, name
        env = dict(config)
        for secret in secret_refs:
            env.update(secrets[secret])
        for variable, secret, key in keys:
            assert key in secrets[secret], f"{name}: {secret} has no {key}"
            env[variable] = secrets[secret][key]
        if "MARQUEE_OPS_TOKEN" in env:  # its placeholder is refused (the next test): as a filled-in copy has it
            env["MARQUEE_OPS_TOKEN"] = env["MARQUEE_OPS_TOKEN"].replace("REPLACE_ME", "filled-in")
        for key in list(os.environ):
            if key.startswith("MARQUEE_"):
                monkeypatch.delenv(key)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        Settings()  # every required setting present, every value of the right kind


def ingest_argv(argv: list[str]) -> bool:
    return argv[:2] == ["marquee", "ingest"]


def test_every_pod_that_runs_ingest_takes_the_ops_token_from_the_secret(deployments, secrets, monkeypatch):
    """/ops and /metrics are never open: each ingest container reads MARQUEE_OPS_TOKEN from a
    Secret, not optionally (a missing Secret stops the pod), and no other pod gets it."""
    runs_ingest = {name for name, d in deployments.items() if ingest_argv(container_argv(main_container(d)))}
    assert runs_ingest == {"marquee-ingest"}
    for name, deployment in deployments.items():
        container = main_container(deployment)
        refs = [e for e in container.get("env", []) if e["name"] == "MARQUEE_OPS_TOKEN"]
        literal = [e for e in refs if "value" in e]
        assert not literal, f"{name}: the ops token belongs in a Secret"
        if name not in runs_ingest:
            assert not refs, f"{name} does not serve /ops and needs no ops token"
            continue
        (ref,) = refs
        secret_ref = ref["valueFrom"]["secretKeyRef"]
        assert secret_ref.get("optional", False) is False, f"{name}: the ops token must not be optional"
        assert secret_ref["key"] in secrets[secret_ref["name"]], f"{name}: {secret_ref} is not in the template"
        # Not also (maybe empty, maybe absent) from an envFrom Secret that every pod reads.
        for source in container.get("envFrom", []):
            if "secretRef" in source:
                assert "MARQUEE_OPS_TOKEN" not in secrets[source["secretRef"]["name"]], name
    # The template's placeholder, applied unchanged, stops ingest at start-up rather than open a door.
    placeholder = secrets["marquee-ops"]["token"]
    monkeypatch.setenv("MARQUEE_OPS_TOKEN", placeholder)
    with pytest.raises(ValueError, match="placeholder"):
        Settings(redis_url="x", archive_url="x", publish_url="x", public_base_url="x", writers_file="x")


@pytest.mark.parametrize("setting", ["MARQUEE_WRITERS_FILE", "MARQUEE_SUBSCRIBERS_FILE"])
def test_ingest_and_workers_mount_the_json_files_where_the_settings_say(deployments, secrets, config, setting):
    # MARQUEE_SUBSCRIBERS_FILE is commented out in the ConfigMap until its Secret exists.
    text = (K8S_DIR / "configmap.yaml").read_text()
    commented = re.search(rf"#\s*{setting}:\s*(\S+)", text)
    value = config.get(setting) or (commented and commented.group(1))
    assert value, setting
    path = Path(value)
    for name in ("marquee-ingest", *WORKERS):
        spec = pod_spec(deployments[name])
        volumes = {v["name"]: v for v in spec["volumes"]}
        (mount,) = [m for m in main_container(deployments[name])["volumeMounts"] if Path(m["mountPath"]) == path.parent]
        assert "subPath" not in mount, f"{name}: a subPath mount never sees an edited Secret"
        volume = volumes[mount["name"]]["secret"]
        assert path.name in secrets[volume["secretName"]], name
        assert volume.get("optional", False) == (setting not in config), f"{name}: optional only while unused"
        assert spec["securityContext"]["fsGroup"] == spec["securityContext"]["runAsGroup"], name
        assert volume["defaultMode"] & 0o040, f"{name}: the group must be able to read it"


def test_beat_runs_exactly_once(deployments, docs):
    beat = deployments["marquee-beat"]
    assert beat.body["spec"]["replicas"] == 1
    assert beat.body["spec"]["strategy"]["type"] == "Recreate", "a rolling update would run two"
    assert container_argv(main_container(beat))[:2] == ["marquee", "beat"]
    assert all(
        o.body["spec"]["scaleTargetRef"]["name"] != "marquee-beat" for o in by_kind(docs, "ScaledObject").values()
    )


# --- KEDA ------------------------------------------------------------------------------------------


def test_a_scaled_object_per_worker_on_its_redis_list(docs, deployments, secrets):
    scaled = by_kind(docs, "ScaledObject")
    auths = by_kind(docs, "TriggerAuthentication")
    targets = {}
    for name, obj in scaled.items():
        spec = obj.body["spec"]
        assert obj.body["apiVersion"] == "keda.sh/v1alpha1"
        assert set(spec) <= {
            "scaleTargetRef",
            "minReplicaCount",
            "maxReplicaCount",
            "pollingInterval",
            "cooldownPeriod",
            "idleReplicaCount",
            "triggers",
            "advanced",
            "fallback",
        }, name
        target = spec["scaleTargetRef"]["name"]
        assert spec["scaleTargetRef"].get("kind", "Deployment") == "Deployment"
        assert target in deployments, f"{name} scales {target}, which is not a Deployment here"
        targets[target] = obj
        assert isinstance(spec["minReplicaCount"], int) and isinstance(spec["maxReplicaCount"], int)
        assert 0 <= spec["minReplicaCount"] <= spec["maxReplicaCount"], name
        assert "replicas" not in deployments[target].body["spec"], f"{target}: KEDA owns its replica count"
        (trigger,) = spec["triggers"]
        assert trigger["type"] == "redis", name
        metadata = trigger["metadata"]
        assert all(isinstance(v, str) for v in metadata.values()), f"{name}: KEDA's metadata values are strings"
        queue = WORKERS[target]
        # Celery's Redis transport keeps queue <q> in the Redis list <q>.
        assert metadata["listName"] == queue, name
        assert int(metadata["listLength"]) > 0
        assert (
            "address" in metadata
            or "addressFromEnv" in metadata
            or "address"
            in {r["parameter"] for r in auths[trigger["authenticationRef"]["name"]].body["spec"]["secretTargetRef"]}
        )
        auth = auths[trigger["authenticationRef"]["name"]]
        for ref in auth.body["spec"]["secretTargetRef"]:
            assert ref["parameter"] in {"address", "host", "port", "username", "password"}
            assert ref["key"] in secrets[ref["name"]], f"{ref['name']} has no key {ref['key']}"
    assert set(targets) == set(WORKERS)


def test_keda_database_matches_the_redis_url(docs, secrets):
    database_number = re.search(r"/(\d+)$", secrets["marquee-secrets"]["MARQUEE_REDIS_URL"])
    assert database_number
    database = database_number.group(1)
    for obj in by_kind(docs, "ScaledObject").values():
        assert obj.body["spec"]["triggers"][0]["metadata"].get("databaseIndex", "0") == database
