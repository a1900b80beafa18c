"""`marquee run` under supervisord, as a person runs it: real processes, real signals.

Each test starts `marquee run` in a temporary folder (its own redis-server, the ingest
service on a free loopback port, the workers and beat) and checks what is left after it:
every process it started, found by walking /proc from its pid, must be gone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.processes import REPO, free_port, poll

pytestmark = pytest.mark.integration

MARQUEE = [sys.executable, "-m", "services.cli.main"]
UP_TIMEOUT = 120  # the whole stack, on a busy two-core machine
STAGES = ("validate", "render", "social", "upload", "notify", "video")


def _stat(pid: int) -> tuple[int, str, int] | None:
    """(parent pid, state, start time) of a live process, or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rfind(")") + 2 :].split()
    return int(fields[1]), fields[0], int(fields[19])


def descendants(root: int) -> dict[int, int]:
    """Every live process under ``root``: pid -> start time (so a reused pid is not mistaken for it)."""
    children: dict[int, list[int]] = {}
    starts: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) and stat[1] != "Z":
            children.setdefault(stat[0], []).append(int(entry.name))
            starts[int(entry.name)] = stat[2]
    found: dict[int, int] = {}
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found[pid] = starts[pid]
        todo.extend(children.get(pid, []))
    return found


def still_running(processes: dict[int, int]) -> list[int]:
    return [pid for pid, start in processes.items() if (stat := _stat(pid)) and stat[1] != "Z" and stat[2] == start]


def cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except (FileNotFoundError, ProcessLookupError):
        return []


def port_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


class Run:
    """One `marquee run` in ``folder``, its output in ``folder/run.out``."""

    def __init__(self, folder: Path, *, extra_env: dict[str, str] | None = None):
        self.folder = folder
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("MARQUEE_")}
        self.env = env | {"PYTHONPATH": str(REPO), "MARQUEE_INGEST_PORT": str(self.port)} | (extra_env or {})
        (folder / "examples").symlink_to(REPO / "examples")
        self.output = folder / "run.out"
        with self.output.open("w") as out:
            # Its own session, as a terminal's foreground job: Ctrl-C is a SIGINT to its group.
            self.process = subprocess.Popen(
                [*MARQUEE, "run"],
                env=self.env,
                cwd=folder,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.seen: dict[int, int] = {}  # every process seen under it, for the check at the end

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def log(self, name: str) -> str:
        return (self.folder / "var/log" / f"{name}.log").read_text(errors="replace")

    def snapshot(self) -> dict[int, int]:
        now = descendants(self.process.pid)
        self.seen |= now
        return now

    def wait_until_up(self) -> None:
        stack_file = self.folder / "var/stack.json"

        def up() -> bool:
            assert self.process.poll() is None, f"marquee run exited early:\n{self.text()}"
            return stack_file.exists()

        poll(up, timeout=UP_TIMEOUT, what="marquee run to be ready")
        for stage in STAGES:  # every worker consuming, its pool processes started
            poll(lambda: "ready." in self.log(f"worker-{stage}"), timeout=UP_TIMEOUT, what=f"worker {stage}")
        self.snapshot()

    def supervisord(self) -> int:
        return next(pid for pid in self.snapshot() if "supervisor.supervisord" in cmdline(pid))

    def worker(self, stage: str) -> int:
        """The pid of the stage's worker (its main process, supervisord's child)."""
        parent = self.supervisord()
        for pid in self.snapshot():
            args = cmdline(pid)
            serves = any(arg.split(",")[0] == stage for arg in args)  # -Q <stage>,maintenance
            if (stat := _stat(pid)) and stat[0] == parent and serves and "worker" in args:
                return pid
        raise AssertionError(f"no {stage} worker under supervisord")

    def stopping(self) -> bool:
        """True once supervisord has begun to stop, while marquee run still waits for it."""
        return "received SIGTERM" in self.log("supervisord") and self.process.poll() is None

    def wait(self, timeout: float = 120) -> int:
        return self.process.wait(timeout=timeout)

    def kill_everything(self) -> None:
        """Clean up after a failed test: nothing of ours may outlive it."""
        self.snapshot()
        for pid in [self.process.pid, *self.seen]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)

    def assert_nothing_left(self) -> None:
        leftover = poll(
            lambda: not still_running(self.seen) or None,
            timeout=30,
            what=f"these to be gone: {[(p, cmdline(p)) for p in still_running(self.seen)]}",
        )
        assert leftover
        assert port_free(self.port), "the ingest port is still taken"
        assert not (self.folder / "var/stack.json").exists()


@pytest.fixture
def run_in(tmp_path):
    runs: list[Run] = []

    def start(**kwargs) -> Run:
        run = Run(tmp_path, **kwargs)
        runs.append(run)
        return run

    yield start
    for run in runs:
        if run.process.poll() is None or still_running(run.seen):
            run.kill_everything()


@pytest.mark.parametrize(
    ("signum", "send"),
    [(signal.SIGINT, os.killpg), (signal.SIGTERM, os.kill)],  # Ctrl-C reaches the foreground group
    ids=["ctrl-c", "sigterm"],
)
def test_a_second_signal_during_the_stop_still_stops_everything(run_in, signum, send):
    run = run_in()
    run.wait_until_up()
    before = run.snapshot()
    supervisord = run.supervisord()
    assert len(before) >= 10, before  # supervisord, listener, redis, ingest, 5 workers (and pools), beat

    send(run.process.pid, signum)
    poll(run.stopping, timeout=30, what="the stop to begin")
    send(run.process.pid, signum)  # the second one, while the first stop is in progress
    assert still_running({supervisord: before[supervisord]}), "the stop was over before the second signal"

    assert run.wait() == 0, run.text()
    output = run.text()
    assert "stopping…" in output and output.rstrip().endswith("stopped."), output
    assert "Traceback" not in output, output
    run.assert_nothing_left()
    assert all(pid in run.seen for pid in before)


def test_a_killed_worker_comes_back_and_consumes_again(run_in):
    run = run_in()
    run.wait_until_up()
    old = run.worker("render")
    offset = len(run.log("worker-render"))

    os.kill(old, signal.SIGKILL)
    new = poll(lambda: (pid := run.worker("render")) != old and pid, timeout=60, what="a new render worker")
    assert new != old
    poll(lambda: "ready." in run.log("worker-render")[offset:], timeout=UP_TIMEOUT, what="the new worker to consume")
    poll(
        lambda: "worker-render exited unexpectedly; starting it again" in run.text(),
        timeout=UP_TIMEOUT,  # the listener and `marquee run` relay it; slow on a loaded machine
        what="marquee run to say so",
    )
    assert "exited: worker-render (terminated by SIGKILL; not expected)" in run.log("supervisord")

    # And it does consume: a review goes through every stage, render included.
    done = subprocess.run(
        [*MARQUEE, "submit", "examples/reviews/the-salt-road.txt", "--writer", "dev", "--wait"],
        env=run.env,
        cwd=run.folder,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "state:    published" in done.stdout
    assert "Task marquee.render[" in run.log("worker-render")[offset:]

    run.snapshot()
    os.kill(run.process.pid, signal.SIGTERM)
    assert run.wait() == 0, run.text()
    run.assert_nothing_left()


def test_a_child_that_keeps_crashing_stops_the_stack_naming_it(run_in, tmp_path):
    # The notify worker exits the moment Python starts, every time: a sitecustomize module on
    # its PYTHONPATH, which only the processes of this `marquee run` see.
    hook = tmp_path / "crash-notify"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(
        "import os, sys\n"
        "if 'worker' in sys.argv and 'notify' in sys.argv:\n"
        "    sys.stderr.write('test: the notify worker fails at once\\n')\n"
        "    os._exit(3)\n"
    )
    run = run_in(extra_env={"PYTHONPATH": f"{hook}{os.pathsep}{REPO}"})

    def stopped() -> bool:
        run.snapshot()
        return run.process.poll() is not None

    poll(stopped, timeout=UP_TIMEOUT + 60, what="marquee run to give up", interval=0.2)
    output = run.text()
    assert run.process.returncode == 1, output
    assert "marquee run: worker-notify keeps crashing; see var/log/worker-notify.log" in output
    for seconds in (1, 2, 3):  # retried first, waiting longer each time
        assert f"worker-notify exited while starting; trying again in {seconds} s" in output, output
    assert output.rstrip().endswith("stopped."), output
    assert "test: the notify worker fails at once" in run.log("worker-notify")
    assert "gave up: worker-notify entered FATAL state" in run.log("supervisord")
    assert len(run.seen) >= 5, run.seen  # it had started the rest
    run.assert_nothing_left()
