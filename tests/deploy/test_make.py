"""The Makefile: `make run` checks for and installs only what running needs (no browser, no
Java, no test tools), every install comes from a lock file with hashes, and the lock files
cover pyproject.toml at the versions it pins."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import httpx
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.deploy.support import REPO
from tests.support.processes import free_port, poll

MAKE = shutil.which("make")
pytestmark = pytest.mark.skipif(MAKE is None, reason="make is not installed")

LOCKS = REPO / "requirements"
TEST_ONLY = ("chromium", "chromedriver", "java", "jre", "ffprobe", "ffmpeg")  # packages, probes and commands
FONTS = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSerif-Italic.ttf"),
)


@pytest.fixture
def checkout(tmp_path) -> Path:
    """What make reads, without a virtualenv: as a fresh clone has it."""
    root = tmp_path / "marquee"
    root.mkdir()
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy2(REPO / name, root / name)
    shutil.copytree(LOCKS, root / "requirements")
    return root


@pytest.fixture
def bare_path(tmp_path) -> Path:
    """A PATH with no chromium, chromedriver, java, ffprobe or apt-get, as a user without root
    sees it: only redis-server and espeak-ng stand-ins and an `id` that says uid 1000."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, script in {"redis-server": "exit 0", "espeak-ng": "exit 0", "id": "echo 1000"}.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{script}\n")
        (bin_dir / name).chmod(0o755)
    return bin_dir


def make(root: Path, *args: str, path: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS"))}
    if path is not None:
        env["PATH"] = str(path)
    return subprocess.run(
        [MAKE, "--no-print-directory", "-C", str(root), *args],  # type: ignore[list-item]
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_make_run_never_asks_for_the_test_packages(checkout, bare_path):
    result = make(checkout, "-n", "run", path=bare_path)
    assert result.returncode == 0, result.stdout + result.stderr
    plan = result.stdout.lower()
    assert "redis-server" in plan and "dejavu" in plan
    for word in TEST_ONLY:
        assert word not in plan, f"`make run` mentions {word}:\n{result.stdout}"
    # and the test path does ask for them, so the check above can fail
    test_plan = make(checkout, "-n", "test", path=bare_path).stdout
    assert all(word in test_plan for word in TEST_ONLY)


def test_make_run_installs_the_run_lock_only(checkout, bare_path):
    plan = make(checkout, "-n", "run", path=bare_path).stdout
    installs = [line for line in plan.splitlines() if re.search(r"\bpip install\b", line)]
    assert any("--require-hashes -r requirements/run.txt" in line for line in installs), plan
    assert any("--no-deps -e ." in line for line in installs), plan
    assert "requirements/test.txt" not in plan
    assert "[test]" not in plan, "make run must not install the test extra"
    for line in installs:
        assert "--require-hashes" in line or "--no-deps" in line or "--upgrade pip" in line, line
    assert plan.rstrip().splitlines()[-1] == ".venv/bin/marquee run"


def test_make_test_installs_the_test_lock(checkout, bare_path):
    plan = make(checkout, "-n", "test", path=bare_path).stdout
    assert "--require-hashes -r requirements/test.txt" in plan
    assert "requirements/run.txt" not in plan


@pytest.mark.skipif(not all(f.exists() for f in FONTS), reason="the DejaVu fonts are not installed here")
def test_without_root_chromium_or_java_make_runs_system_check_passes(checkout, bare_path):
    result = make(checkout, "system-deps-run", path=bare_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""
    # the test path, on the same machine, names exactly what is missing and how to get it
    result = make(checkout, "system-deps-test", path=bare_path)
    assert result.returncode != 0
    assert "make test needs these system packages, which are not installed: chromium chromium-driver" in result.stdout
    assert "sudo apt-get install chromium chromium-driver default-jre-headless" in result.stdout


def test_without_root_make_run_says_what_to_install(checkout, bare_path):
    (bare_path / "redis-server").unlink()
    result = make(checkout, "run", path=bare_path)
    assert result.returncode != 0
    assert "make run needs these system packages, which are not installed: redis-server" in result.stdout
    assert "sudo apt-get install redis-server) and run make again" in result.stdout
    assert not any(word in result.stdout.lower() for word in TEST_ONLY), result.stdout
    assert not (checkout / ".venv").exists(), "nothing is installed before the system packages are there"


def test_a_changed_lock_reinstalls_only_the_virtualenv_that_uses_it(checkout):
    venv = checkout / ".venv"
    venv.mkdir()
    stamps = {"run": venv / ".installed-run", "test": venv / ".installed-test"}
    for stamp in stamps.values():
        stamp.touch()
        os.utime(stamp, (2_000_000_000, 2_000_000_000))  # newer than every input

    def up_to_date(target: str) -> bool:
        return make(checkout, "-q", target).returncode == 0

    assert up_to_date("venv-run") and up_to_date("venv-test")
    os.utime(checkout / "requirements" / "test.txt", (2_100_000_000, 2_100_000_000))
    assert up_to_date("venv-run") and not up_to_date("venv-test")
    os.utime(checkout / "requirements" / "run.txt", (2_100_000_000, 2_100_000_000))
    assert not up_to_date("venv-run")


def test_make_lock_writes_every_lock_with_hashes_for_python_3_11_on_linux(checkout):
    plan = make(checkout, "-n", "lock").stdout
    compiles = [line for line in plan.splitlines() if "uv pip compile" in line]
    outputs = {re.search(r"-o (\S+)", line).group(1) for line in compiles}  # type: ignore[union-attr]
    assert outputs == {f"requirements/{p.name}" for p in LOCKS.glob("*.txt")}
    for line in compiles:
        assert "--generate-hashes" in line and "--python-version 3.11" in line and "--python-platform linux" in line


# --- the lock files themselves ----------------------------------------------------------------


def read_lock(name: str) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes), from a pip requirements file with hashes."""
    text = (LOCKS / name).read_text().replace("\\\n", " ")
    pins: dict[str, tuple[str, list[str]]] = {}
    for line in text.splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+?)(?: ;[^-]*)?((?:\s+--hash=sha256:[0-9a-f]{64})*)", line)
        assert m, f"{name}: not an exact pin with hashes: {line[:120]}"
        hashes = m.group(3).split()
        assert hashes, f"{name}: {m.group(1)} has no hash"
        pins[canonicalize_name(m.group(1))] = (m.group(2), hashes)
    return pins


def declared(*extras: str) -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    requirements = [Requirement(r) for r in project["dependencies"]]
    for extra in extras:
        requirements += [Requirement(r) for r in project["optional-dependencies"][extra]]
    return requirements


@pytest.mark.parametrize(
    ("lock", "extras", "base"),
    [
        ("run.txt", (), None),
        ("test.txt", ("test",), "run.txt"),
        ("deploy.txt", ("deploy",), "run.txt"),
        ("bench.txt", ("test", "bench"), "test.txt"),
    ],
)
def test_each_lock_covers_pyproject_at_the_versions_of_the_lock_it_extends(lock, extras, base):
    pins = read_lock(lock)
    for requirement in declared(*extras):
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement} is in pyproject.toml but not in requirements/{lock}: run make lock"
        version = pins[name][0]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"requirements/{lock} has {name}=={version}, pyproject.toml wants {requirement}: run make lock"
        )
    if base is not None:
        for base_name, (version, _) in read_lock(base).items():
            assert pins.get(base_name, (version,))[0] == version, (
                f"{base_name}: {lock} and {base} disagree; run make lock"
            )


def test_the_run_lock_has_no_test_tools():
    pins = read_lock("run.txt")
    tools = {"pytest", "ruff", "mypy", "selenium", "moto", "hypothesis", "schemathesis", "import-linter", "flower"}
    assert not tools & pins.keys(), f"test tools in the run lock: {sorted(tools & pins.keys())}"


# --- end to end: `make run` in a fresh copy, with no browser, Java or apt-get on PATH ----------


def started_under(root: Path) -> list[int]:
    """Processes whose command line names ``root``: only ever ones this test started."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if str(root).encode() in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


@pytest.mark.integration
@pytest.mark.timeout(420)
@pytest.mark.skipif(
    os.environ.get("MARQUEE_TEST_MAKE_RUN") != "1",
    reason="installs the run lock from PyPI into a fresh virtualenv (1-2 minutes): set MARQUEE_TEST_MAKE_RUN=1",
)
@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
@pytest.mark.skipif(not all(f.exists() for f in FONTS), reason="the DejaVu fonts are not installed here")
def test_make_run_in_a_fresh_copy_starts_the_stack_without_chromium_or_java(tmp_path):
    root = tmp_path / "marquee"
    shutil.copytree(
        REPO, root, ignore=shutil.ignore_patterns(".git", ".venv", "var", "__pycache__", "*.egg-info", ".*_cache")
    )
    path = tmp_path / "bin"
    path.mkdir()
    base_python = getattr(sys, "_base_executable", sys.executable)
    for name, target in {
        "python3": base_python,
        "redis-server": shutil.which("redis-server"),
        "espeak-ng": shutil.which("espeak-ng"),
        **{tool: shutil.which(tool) for tool in ("id", "grep", "touch", "sh", "env")},
    }.items():
        assert target is not None, name
        (path / name).symlink_to(target)
    port = free_port()
    env = {"HOME": os.environ.get("HOME", str(tmp_path)), "PATH": str(path), "MARQUEE_INGEST_PORT": str(port)}
    log = (tmp_path / "make-run.log").open("w")
    process = subprocess.Popen(
        [MAKE, "--no-print-directory", "run"],  # type: ignore[list-item]
        cwd=root,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        poll(
            lambda: (
                process.poll() is None and httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
            ),
            timeout=300,
            what="make run's ingest /readyz",
            interval=1,
        )
        installed = subprocess.run(
            [str(root / ".venv/bin/python"), "-m", "pip", "list", "--format=freeze"], capture_output=True, text=True
        ).stdout.lower()
        assert "celery==5.7.0" in installed and "kombu==5.7.0" in installed
        assert not {"pytest", "selenium", "ruff", "moto"} & {line.split("==")[0] for line in installed.split()}
        os.killpg(process.pid, signal.SIGTERM)
        assert process.wait(timeout=60) is not None
        assert "stopped." in (tmp_path / "make-run.log").read_text()
        # make's children may take a moment to be reaped after it exits: poll, bounded.
        poll(lambda: not started_under(root), timeout=10, what="make run's processes to be gone")
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        for pid in started_under(root):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        log.close()
