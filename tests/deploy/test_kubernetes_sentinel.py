"""deploy/k8s-sentinel: the base manifests plus a Redis with Sentinel failover, Marquee pointed
at the Sentinels, and KEDA's redis-sentinel scaler per queue. Checked offline, as deploy/k8s is:
the overlay rendered here (the base, its own resources, its two patches), the Kubernetes objects
by kubernetes-validate, KEDA's by structure, and every name wired to the others."""

from __future__ import annotations

import copy
import re
import shutil
import subprocess

import pytest
import yaml

from shared.config import Settings
from shared.connection import parse_redis_address
from shared.queues import QUEUES
from tests.deploy.support import K8S_DIR, K8sDoc
from tests.deploy.test_kubernetes import kubernetes_validate, split_documents

OVERLAY = K8S_DIR.parent / "k8s-sentinel"
WORKERS = {f"marquee-worker-{queue}": queue for queue in QUEUES}
# The parameters KEDA's redis-sentinel scaler takes from a TriggerAuthentication (keda.sh docs).
SENTINEL_AUTH_PARAMETERS = {
    "addresses",
    "hosts",
    "ports",
    "username",
    "password",
    "sentinelUsername",
    "sentinelPassword",
    "sentinelMaster",
}


def load(path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def json_patch(document: dict, operations: list[dict]) -> dict:
    """RFC 6902 add/replace on object paths: all the overlay's patch uses."""
    patched = copy.deepcopy(document)
    for op in operations:
        *parents, leaf = op["path"].strip("/").split("/")
        node = patched
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        assert op["op"] in ("add", "replace"), op
        if op["op"] == "replace":
            assert leaf in node, f"{op['path']} is not there to replace"
        node[leaf] = op["value"]
    return patched


def render() -> list[dict]:
    kustomization = yaml.safe_load((OVERLAY / "kustomization.yaml").read_text())
    documents: list[dict] = []
    for resource in kustomization["resources"]:
        if resource == "../k8s":
            base = yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text())
            documents += [d for r in base["resources"] for d in load(K8S_DIR / r)]
        else:
            documents += load(OVERLAY / resource)
    for patch in kustomization["patches"]:
        body = yaml.safe_load((OVERLAY / patch["path"]).read_text())
        target = patch.get("target")
        for index, document in enumerate(documents):
            if target:  # a JSON patch for every object of the target's kind
                if (
                    document["kind"] == target["kind"]
                    and document["apiVersion"] == f"{target['group']}/{target['version']}"
                ):
                    documents[index] = json_patch(document, body)
            elif (document["kind"], document["metadata"]["name"]) == (body["kind"], body["metadata"]["name"]):
                documents[index] = copy.deepcopy(document)
                documents[index]["data"] = document["data"] | body["data"]  # a strategic merge of data
    return documents


@pytest.fixture(scope="module")
def rendered() -> list[dict]:
    return render()


def named(documents: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in documents if d["kind"] == kind}


def template_secrets() -> dict[str, dict[str, str]]:
    return {d["metadata"]["name"]: d["stringData"] for d in load(OVERLAY / "secret.template.yaml")}


def test_the_rendering_here_is_kustomizes_where_kubectl_is_installed(rendered):
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: the rendering above is the one checked")
    result = subprocess.run([kubectl, "kustomize", str(OVERLAY)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    theirs = {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(result.stdout) if d}
    ours = {(d["kind"], d["metadata"]["name"]): d for d in rendered}
    assert theirs.keys() == ours.keys()
    for key in theirs:
        if key[0] in ("ScaledObject", "ConfigMap", "TriggerAuthentication"):
            mine = ours[key] | {"metadata": {**ours[key]["metadata"], "namespace": "marquee"}}
            assert theirs[key]["spec" if "spec" in theirs[key] else "data"] == mine.get("spec", mine.get("data")), key


def test_the_new_kubernetes_objects_validate(tmp_path):
    core = [d for path in ("redis-sentinel.yaml", "configmap.yaml") for d in load(OVERLAY / path)]
    docs = [K8sDoc(OVERLAY / "redis-sentinel.yaml", index, body) for index, body in enumerate(core)]
    result = kubernetes_validate(split_documents(docs, tmp_path), None)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(" passed ") == len(core), result.stdout


def test_each_worker_scales_on_its_queue_through_the_sentinels(rendered):
    config = named(rendered, "ConfigMap")["marquee-config"]["data"]
    master = config["MARQUEE_REDIS_SENTINEL_MASTER"]
    statefulset = named(rendered, "StatefulSet")["marquee-redis"]
    service = statefulset["spec"]["serviceName"]
    pods = {f"marquee-redis-{n}.{service}:26379" for n in range(statefulset["spec"]["replicas"])}
    auths = named(rendered, "TriggerAuthentication")
    secrets = template_secrets()
    scaled = named(rendered, "ScaledObject")
    assert {obj["spec"]["scaleTargetRef"]["name"] for obj in scaled.values()} == set(WORKERS)
    for name, obj in scaled.items():
        (trigger,) = obj["spec"]["triggers"]
        metadata = trigger["metadata"]
        assert trigger["type"] == "redis-sentinel", name
        assert metadata["listName"] == WORKERS[obj["spec"]["scaleTargetRef"]["name"]], name
        assert metadata["sentinelMaster"] == master, name
        assert set(metadata["addresses"].split(",")) == pods, name
        assert all(isinstance(v, str) for v in metadata.values()), f"{name}: KEDA's metadata values are strings"
        assert "address" not in metadata and "host" not in metadata, f"{name}: left over from the redis scaler"
        for ref in auths[trigger["authenticationRef"]["name"]]["spec"]["secretTargetRef"]:
            assert ref["parameter"] in SENTINEL_AUTH_PARAMETERS, ref
            assert ref["key"] in secrets[ref["name"]], ref


def test_the_sentinels_monitor_the_master_marquee_is_told_of(rendered):
    scripts = named(rendered, "ConfigMap")["marquee-redis-scripts"]["data"]
    master = named(rendered, "ConfigMap")["marquee-config"]["data"]["MARQUEE_REDIS_SENTINEL_MASTER"]
    monitor = re.search(r"sentinel monitor (\S+) \S+ 6379 (\d)", scripts["sentinel.sh"])
    assert monitor and monitor.group(1) == master
    assert int(monitor.group(2)) == 2  # a quorum of two of the three Sentinels
    assert f"get-master-addr-by-name {master}" in scripts["primary.sh"]
    assert "noeviction" in scripts["redis.sh"] and "appendonly yes" in scripts["redis.sh"]  # as Marquee needs
    # The password reaches redis-server through a file, never its command line.
    assert "requirepass" not in yaml.safe_dump(named(rendered, "StatefulSet")["marquee-redis"]["spec"]["template"])


def test_the_template_url_names_the_sentinels_and_the_settings_accept_it(rendered, monkeypatch):
    config = named(rendered, "ConfigMap")["marquee-config"]["data"]
    url = template_secrets()["marquee-secrets"]["MARQUEE_REDIS_URL"]
    address = parse_redis_address(url, config["MARQUEE_REDIS_SENTINEL_MASTER"])
    keda = next(iter(named(rendered, "ScaledObject").values()))["spec"]["triggers"][0]["metadata"]
    assert {f"{host}:{port}" for host, port in address.sentinels} == set(keda["addresses"].split(","))
    assert str(address.db) == keda.get("databaseIndex", "0")
    for name, value in config.items():
        monkeypatch.setenv(name, value)
    settings = Settings(redis_url=url, archive_url="x", publish_url="x", public_base_url="x", writers_file="x")
    assert settings.redis.uses_sentinel and settings.publish_retry_for > 5  # outlasts down-after-milliseconds
