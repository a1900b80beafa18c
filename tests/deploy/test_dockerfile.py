"""The Dockerfile: hadolint-clean, multi-stage, slim, non-root, healthy, fonts in, secrets out."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import tomllib

import pytest

from tests.deploy.support import BIN, DOCKERFILE, DOCKERIGNORE, REPO, dockerfile_stages, exec_form, healthcheck_command

BUILD_TOOLS = {"gcc", "g++", "cc", "make", "build-essential", "python3-dev", "libc6-dev", "git", "cmake", "pkg-config"}


@pytest.fixture(scope="module")
def stages():
    return dockerfile_stages()[1]


@pytest.fixture(scope="module")
def final(stages):
    return stages[-1]


def hadolint(path) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "hadolint"), "--no-color", str(path)], capture_output=True, text=True, timeout=30)


def test_hadolint_passes():
    result = hadolint(DOCKERFILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_catches_a_bad_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install gcc\nRUN cd /app\n")
    result = hadolint(bad)
    assert result.returncode != 0
    assert {"DL3007", "DL3008", "DL3003"} <= set(re.findall(r"DL\d{4}", result.stdout))


def test_multi_stage_on_python_3_11_slim(stages):
    assert len(stages) >= 2
    for stage in stages:
        assert stage.base == "python:3.11-slim" or stage.base.startswith("python:3.11-slim-"), stage.base
    assert stages[0].name == "build"


def apt_packages(stage) -> set[str]:
    packages = set()
    for run in stage.all("RUN"):
        for command in re.split(r"&&|;|\|\|", run.args):
            words = shlex.split(command)
            if words[:2] == ["apt-get", "install"] or words[:2] == ["apt", "install"]:
                packages |= {w.split("=")[0] for w in words[2:] if not w.startswith("-")}
    return packages


def test_final_stage_has_no_build_tools_and_no_sources(final):
    assert not apt_packages(final) & BUILD_TOOLS
    for run in final.all("RUN"):
        assert not re.search(r"\bpip\b.*\binstall\b", run.args), "install into the virtualenv in the build stage"
    for copy in final.all("COPY"):
        assert copy.args.startswith("--from="), f"the final stage copies only from the build stage: {copy.args}"


def test_build_stage_copies_only_the_package_sources(stages):
    sources = set()
    for copy in stages[0].all("COPY"):
        words = [w for w in copy.args.split() if not w.startswith("--")]
        sources |= {w.rstrip("/").removeprefix("./") for w in words[:-1]}
    assert sources <= {"pyproject.toml", "shared", "services", "README.md", "requirements/deploy.txt"}, sources


def test_build_stage_installs_the_dependencies_from_the_lock_with_hashes(stages):
    installs = [
        command.strip()
        for run in stages[0].all("RUN")
        for command in re.split(r"&&", run.args)
        if re.search(r"\bpip\b.*\binstall\b", command)
    ]
    locks = [m.group(1) for c in installs if (m := re.search(r"--require-hashes -r (\S+)", c))]
    assert locks == ["requirements/deploy.txt"], installs
    assert (REPO / locks[0]).is_file()
    copied = " ".join(copy.args for copy in stages[0].all("COPY"))
    assert locks[0] in copied, "the lock must be copied into the build stage"
    others = [c for c in installs if "--require-hashes" not in c]
    assert others and all("--no-deps" in c for c in others), f"everything else must resolve nothing: {others}"


def test_final_stage_installs_the_fonts(final):
    assert "fonts-dejavu-core" in apt_packages(final)


def test_the_fonts_the_social_images_use_are_installed(final):
    look = pytest.importorskip("services.social.look", reason="no social image code yet")
    if shutil.which("dpkg-query") is None:
        pytest.skip("dpkg-query is not here to list the packages' files")
    provided: set[str] = set()
    for package in apt_packages(final):
        listing = subprocess.run(["dpkg-query", "-L", package], capture_output=True, text=True)
        if listing.returncode != 0:
            pytest.skip(f"{package} is not installed here, so its files cannot be listed")
        provided |= set(listing.stdout.split())
    fonts = look.Fonts()
    needed = {
        str(fonts.directory / getattr(fonts, role))
        for role in ("title", "label", "text", "quote", "quote_wide")
        if hasattr(fonts, role)
    }
    assert needed, "no font files named"
    assert not needed - provided, f"no package in the image provides {sorted(needed - provided)}"


def test_runs_as_a_non_root_user(final):
    users = final.all("USER")
    assert users, "the final stage must switch to a non-root user"
    user = users[-1].args.split(":")[0]
    assert user not in ("0", "root")
    assert user.isdigit(), "a numeric USER lets Kubernetes verify runAsNonRoot"
    creates = " ".join(run.args for run in final.all("RUN"))
    assert re.search(rf"useradd\b.*--uid {user}\b", creates), "the user should exist in /etc/passwd"


def test_healthcheck_hits_ingest_healthz(final):
    argv = healthcheck_command(final)
    assert argv[:2] == ["python", "-c"]
    assert "/healthz" in argv[2] and "MARQUEE_INGEST_PORT" in argv[2]


def test_default_command_is_ingest_listening_on_every_interface(final):
    (cmd,) = final.all("CMD")
    assert exec_form(cmd.args) == ["marquee", "ingest"]
    env = " ".join(e.args for e in final.all("ENV"))
    assert re.search(r"MARQUEE_INGEST_HOST=0\.0\.0\.0\b", env)


def test_no_secrets_are_baked_in(stages):
    for stage in stages:
        for ins in stage.all("ENV") + stage.all("ARG"):
            names = re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=", ins.args) or [ins.args.split()[0]]
            for name in names:
                assert not re.search(r"SECRET|PASSWORD|TOKEN|ACCESS_KEY|WRITERS", name, re.I), (
                    f"line {ins.line}: {name}"
                )


def test_image_extra_is_declared_and_provides_flower(stages):
    """The Dockerfile installs the package with an extra; pyproject.toml must define it, with Flower."""
    installs = " ".join(run.args for run in stages[0].all("RUN"))
    extras = re.findall(r"/src\[([\w,-]+)\]", installs)
    assert extras, "the build stage should install /src[<extra>]"
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"].get("optional-dependencies", {})
    wanted = [e for group in extras for e in group.split(",")]
    missing = [e for e in wanted if e not in declared]
    assert not missing, f"pyproject.toml has no optional-dependencies {missing} (the image needs flower from it)"
    assert any(re.match(r"flower\b", dep) for e in wanted for dep in declared[e])


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or a parent directory decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        regex = (
            re.escape(pattern)
            .replace(r"\*\*/", "(.*/)?")
            .replace(r"\*\*", ".*")
            .replace(r"\*", "[^/]*")
            .replace(r"\?", "[^/]")
        )
        if any(re.fullmatch(regex, c) for c in candidates):
            excluded = not negate
    return excluded


def test_dockerignore_keeps_secrets_and_local_state_out():
    patterns = [
        line.strip() for line in DOCKERIGNORE.read_text().splitlines() if line.strip() and not line.startswith("#")
    ]
    for path in (
        "var/writers.json",
        "var/redis/appendonly.aof",
        ".env",
        "deploy/.env",
        ".git/config",
        ".venv/bin/python",
        "tests/conftest.py",
        "shared/__pycache__/cli.cpython-311.pyc",
    ):
        assert dockerignored(path, patterns), f"{path} would be sent to the build"
    for path in ("pyproject.toml", "requirements/deploy.txt", "shared/cli.py", "shared/site/templates/article.html"):
        assert not dockerignored(path, patterns), f"{path} is needed by the build"
