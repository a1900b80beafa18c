"""Reading the deployment files the way their tools do: Compose interpolation, the
Dockerfile's instructions, the Kubernetes documents, and the commands they all run."""

from __future__ import annotations

import json
import re
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
K8S_DIR = REPO / "deploy" / "k8s"
SECRET_TEMPLATE = K8S_DIR / "secret.template.yaml"
PLACEHOLDER = "REPLACE_ME"

# Variables docker-compose.yml cannot default: each must stop Compose with a message.
COMPOSE_REQUIRED = {"MARQUEE_WRITERS_FILE", "MINIO_ROOT_PASSWORD", "MARQUEE_S3_SECRET_KEY", "MARQUEE_OPS_TOKEN"}
# Values for them, for tests that need the file interpolated as Compose would.
COMPOSE_TEST_ENV = {
    "MARQUEE_WRITERS_FILE": "var/writers.json",
    "MINIO_ROOT_PASSWORD": "test-only-root-password",
    "MARQUEE_S3_SECRET_KEY": "test-only-s3-password",
    "MARQUEE_OPS_TOKEN": "test-only-ops-token",
}


# --- Compose -----------------------------------------------------------------------------


class MissingVariable(Exception):
    def __init__(self, name: str, message: str):
        super().__init__(f"required variable {name} is missing a value: {message}")
        self.name = name
        self.message = message


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def interpolate(text: str, env: dict[str, str], missing: list[MissingVariable] | None = None) -> str:
    """Compose's interpolation: ``$$``, ``$VAR``, ``${VAR}``, and ``${VAR<op>word}`` with the
    operators ``:-`` ``-`` ``:?`` ``?`` ``:+`` ``+`` (``word`` may itself hold ``${…}``).

    A missing required variable raises MissingVariable, or is appended to ``missing``.
    """
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "$":
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1 : i + 2]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "{":
            depth, j = 1, i + 2
            while j < len(text) and depth:
                depth += {"{": 1, "}": -1}.get(text[j], 0)
                j += 1
            if depth:
                raise ValueError(f"unclosed ${{ in {text!r}")
            out.append(_expand(text[i + 2 : j - 1], env, missing))
            i = j
        elif (m := _NAME.match(text, i + 1)) is not None:
            out.append(env.get(m.group(), ""))
            i = m.end()
        else:
            raise ValueError(f"invalid interpolation at {text[i:]!r}")
    return "".join(out)


def _expand(expr: str, env: dict[str, str], missing: list[MissingVariable] | None) -> str:
    m = _NAME.match(expr)
    if m is None:
        raise ValueError(f"invalid variable name in ${{{expr}}}")
    name, rest = m.group(), expr[m.end() :]
    value = env.get(name)
    if not rest:
        return value or ""
    for op in (":-", ":?", ":+", "-", "?", "+"):
        if rest.startswith(op):
            word = rest[len(op) :]
            break
    else:
        raise ValueError(f"invalid operator in ${{{expr}}}")
    unset_or_empty = not value if op.startswith(":") else value is None
    if op in (":-", "-"):
        return interpolate(word, env, missing) if unset_or_empty else value  # type: ignore[return-value]
    if op in (":+", "+"):
        return "" if unset_or_empty else interpolate(word, env, missing)
    if unset_or_empty:
        error = MissingVariable(name, word)
        if missing is None:
            raise error
        missing.append(error)
        return ""
    return value  # type: ignore[return-value]


def interpolate_tree(node: Any, env: dict[str, str], missing: list[MissingVariable] | None = None) -> Any:
    if isinstance(node, str):
        return interpolate(node, env, missing)
    if isinstance(node, list):
        return [interpolate_tree(item, env, missing) for item in node]
    if isinstance(node, dict):
        return {key: interpolate_tree(value, env, missing) for key, value in node.items()}
    return node


def load_compose_raw() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def load_compose(env: dict[str, str] | None = None) -> dict:
    """The compose file as Compose sees it: anchors merged, variables interpolated."""
    return interpolate_tree(load_compose_raw(), COMPOSE_TEST_ENV if env is None else env)


def compose_environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def healthcheck_argv(test: list[str] | str) -> list[str] | None:
    """A Compose healthcheck ``test`` as the argv it runs (None for NONE/disabled)."""
    if isinstance(test, str):
        return ["sh", "-c", test]
    kind, *rest = test
    if kind == "CMD":
        return rest
    if kind == "CMD-SHELL":
        return ["sh", "-c", " ".join(rest)]
    return None


def healthcheck_runs(test: list[str] | str) -> list[str]:
    """``healthcheck_argv`` for a healthcheck that runs something (not NONE)."""
    argv = healthcheck_argv(test)
    assert argv is not None, f"the healthcheck {test!r} runs nothing"
    return argv


# --- Dockerfile ------------------------------------------------------------------------------


@dataclass
class Instruction:
    keyword: str
    args: str
    line: int


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def dockerfile_instructions(text: str) -> list[Instruction]:
    instructions: list[Instruction] = []
    buffer, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not buffer and (not stripped or stripped.startswith("#")):
            continue
        if buffer and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if not buffer:
            start = number
        if stripped.endswith("\\"):
            buffer += stripped[:-1] + " "
            continue
        buffer += stripped
        keyword, _, args = buffer.partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip(), start))
        buffer = ""
    return instructions


def dockerfile_stages(text: str | None = None) -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults, and the stages with their instructions."""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for ins in dockerfile_instructions(DOCKERFILE.read_text() if text is None else text):
        if ins.keyword == "FROM":
            parts = ins.args.split()
            parts = [p for p in parts if not p.startswith("--platform")]
            base = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), parts[0])
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(base, name))
        elif not stages and ins.keyword == "ARG":
            key, _, default = ins.args.partition("=")
            args[key.strip()] = default.strip().strip('"')
        elif stages:
            stages[-1].instructions.append(ins)
    return args, stages


def exec_form(args: str) -> list[str] | None:
    try:
        value = json.loads(args)
    except ValueError:
        return None
    return value if isinstance(value, list) and all(isinstance(v, str) for v in value) else None


def healthcheck_command(stage: Stage) -> list[str]:
    (ins,) = stage.all("HEALTHCHECK")
    _, _, command = ins.args.partition("CMD ")
    argv = exec_form(command.strip())
    assert argv is not None, f"HEALTHCHECK should use the exec form: {ins.args}"
    return argv


# --- Kubernetes ----------------------------------------------------------------------------------


@dataclass
class K8sDoc:
    file: Path
    index: int
    body: dict

    @property
    def kind(self) -> str:
        return self.body["kind"]

    @property
    def name(self) -> str:
        return self.body["metadata"]["name"]

    @property
    def is_keda(self) -> bool:
        return self.body["apiVersion"].split("/")[0] == "keda.sh"


def k8s_files() -> list[Path]:
    return sorted(p for p in K8S_DIR.rglob("*.y*ml") if p.name != "kustomization.yaml")


def k8s_docs(*, include_template: bool = True) -> list[K8sDoc]:
    docs = []
    for path in k8s_files():
        if path == SECRET_TEMPLATE and not include_template:
            continue
        for index, body in enumerate(yaml.safe_load_all(path.read_text())):
            if body is not None:
                docs.append(K8sDoc(path, index, body))
    return docs


def by_kind(docs: list[K8sDoc], kind: str) -> dict[str, K8sDoc]:
    return {d.name: d for d in docs if d.kind == kind}


def pod_spec(deployment: K8sDoc) -> dict:
    return deployment.body["spec"]["template"]["spec"]


def main_container(deployment: K8sDoc) -> dict:
    (container,) = pod_spec(deployment)["containers"]
    return container


def container_argv(container: dict) -> list[str]:
    return [*container.get("command", []), *container.get("args", [])]


# --- commands ------------------------------------------------------------------------------


def shell_argv(argv: list[str], env: dict[str, str] | None = None) -> list[str]:
    """Unwrap ``sh -c "[exec] cmd args"`` into the argv it runs, expanding $VARS from env."""
    if len(argv) == 3 and argv[0] in ("sh", "/bin/sh") and argv[1] == "-c":
        words = shlex.split(argv[2])
        if words and words[0] == "exec":
            words = words[1:]
        if any(w in ("|", "||", "&&", ";") for w in words):
            raise AssertionError(f"not a single command: {argv[2]!r}")
        return [interpolate(w, env or {}) for w in words]
    return argv
