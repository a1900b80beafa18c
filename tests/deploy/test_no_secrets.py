"""No secret value is committed with the deployment files: the Secret is a template of
placeholders, and everything else takes its secrets from the environment."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from tests.deploy.support import (
    COMPOSE_FILE,
    DOCKERFILE,
    DOCKERIGNORE,
    PLACEHOLDER,
    REPO,
    SECRET_TEMPLATE,
    by_kind,
    k8s_docs,
)

SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|ACCESS_KEY|BASIC_AUTH|CREDENTIAL", re.I)
# Shapes of real secrets: a Standard Webhooks key, AWS access keys, PEM keys, MinIO's default.
SECRET_SHAPES = {
    "webhook secret": re.compile(r"whsec_[A-Za-z0-9+/]{16,}={0,2}"),
    "AWS access key id": re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "MinIO default credentials": re.compile(r"minioadmin", re.I),
}


def deployment_files() -> list[Path]:
    files = [DOCKERFILE, DOCKERIGNORE, COMPOSE_FILE]
    files += sorted(p for p in (REPO / "deploy").rglob("*") if p.is_file())
    return files


def random_looking(text: str) -> list[str]:
    """Runs of 20+ characters that mix upper, lower and digits, as generated keys do."""
    runs = re.findall(r"[A-Za-z0-9+/=_\-]{20,}", text)
    # A JSON patch's path (/spec/triggers/0/authenticationRef/name: words and indexes) is no key.
    runs = [r for r in runs if not re.fullmatch(r"(/([A-Za-z]+|\d+))+", r)]
    return [r for r in runs if re.search(r"[a-z]", r) and re.search(r"[A-Z]", r) and re.search(r"\d", r)]


def test_the_secret_template_holds_only_placeholders():
    text = SECRET_TEMPLATE.read_text()
    assert "TEMPLATE" in text.split("apiVersion")[0], "say at the top that this is a template"
    secrets = by_kind([d for d in k8s_docs() if d.file == SECRET_TEMPLATE], "Secret")
    assert secrets
    for name, secret in secrets.items():
        body = secret.body
        assert "data" not in body, f"{name}: base64 data hides what it holds; use stringData placeholders"
        assert body.get("stringData"), name
        for key, value in body["stringData"].items():
            assert PLACEHOLDER in value, f"{name}.{key} is not a placeholder"
            rest = re.sub(PLACEHOLDER + r"[A-Z0-9_]*", "", value)
            assert not random_looking(rest), f"{name}.{key} holds more than placeholders: {rest!r}"


def test_a_placeholder_writers_file_cannot_be_used():
    """Left unfilled, the writers file fails to load rather than admitting anyone."""
    from shared.writers import parse_writers

    secret = by_kind([d for d in k8s_docs() if d.file == SECRET_TEMPLATE], "Secret")["marquee-writers"]
    with pytest.raises(ValueError):
        parse_writers(json.loads(secret.body["stringData"]["writers.json"]))


def test_no_other_manifest_is_a_secret():
    for doc in k8s_docs():
        if doc.file != SECRET_TEMPLATE:
            assert doc.kind != "Secret", f"{doc.file.name}: Secrets belong in the template only"


def test_no_file_holds_a_secret_shaped_value():
    for path in deployment_files():
        text = path.read_text()
        for what, shape in SECRET_SHAPES.items():
            assert not shape.search(text), f"{path.relative_to(REPO)} holds a {what}"
        assert not random_looking(re.sub(PLACEHOLDER + r"[A-Z0-9_]*", "", text)), (
            f"{path.relative_to(REPO)}: {random_looking(text)[:3]} look like keys"
        )


def test_the_dev_stacks_real_secrets_are_nowhere_in_the_deployment_files():
    writers = REPO / "var" / "writers.json"
    if not writers.exists():
        pytest.skip("no var/writers.json here (make run creates one)")
    keys = [k for w in json.loads(writers.read_text())["writers"].values() for k in w["secrets"]]
    for path in deployment_files():
        text = path.read_text()
        for key in keys:
            assert key not in text and key.removeprefix("whsec_") not in text, path


def secret_named_values(node, where: str):
    """(where, name, value) for every setting with a literal value whose name sounds secret.

    Settings are environment entries and keys that are all upper or all lower case;
    Kubernetes' references to Secrets (secretName, secretKeyRef, …) are camelCase.
    """
    if isinstance(node, dict):
        if set(node) >= {"name", "value"} and isinstance(node["value"], str):  # a container env entry
            if SECRET_NAME.search(node["name"]):
                yield where, node["name"], node["value"]
        for key, value in node.items():
            key = str(key)
            if isinstance(value, str) and SECRET_NAME.search(key) and key in (key.upper(), key.lower()):
                yield where, key, value
            yield from secret_named_values(value, f"{where}.{key}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from secret_named_values(item, f"{where}[{i}]")


def test_no_secret_named_setting_has_a_literal_value():
    compose = yaml.safe_load(COMPOSE_FILE.read_text())
    seen = set()
    for where, name, value in secret_named_values(compose, "compose"):
        if not name.endswith(("ACCESS_KEY_ID", "S3_ACCESS_KEY")):  # user names, not secrets
            assert re.fullmatch(r"\$\{[A-Z0-9_]+:\?[^}]+\}", value), f"{where}: {name}={value!r}"
            seen.add(name)
    assert {"MINIO_ROOT_PASSWORD", "MARQUEE_S3_SECRET_KEY", "AWS_SECRET_ACCESS_KEY"} <= seen
    for doc in k8s_docs(include_template=False):
        for where, name, _value in secret_named_values(doc.body, f"{doc.file.name}"):
            raise AssertionError(f"{where}: {name} belongs in a Secret, not a literal")
    config = by_kind(k8s_docs(), "ConfigMap")
    for cm in config.values():
        assert not [k for k in cm.body["data"] if SECRET_NAME.search(k) and not k.endswith("_ID")], cm.name


def test_the_checks_above_would_see_a_leaked_secret():
    from shared.writers import new_secret

    leaked = f"AWS_SECRET_ACCESS_KEY: {new_secret()}\n"
    assert SECRET_SHAPES["webhook secret"].search(leaked)
    assert random_looking("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    assert list(secret_named_values({"env": [{"name": "MINIO_ROOT_PASSWORD", "value": "hunter2"}]}, "x"))
