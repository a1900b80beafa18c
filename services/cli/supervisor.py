"""``marquee run``: the whole stack on one machine, on embedded defaults, under ``var/``.

A private redis-server (append-only), the ingest service, one Celery worker per stage
queue, and Celery beat (which lifts embargoes), each its own process, kept by
supervisord (the ``supervisor`` package), which ``marquee run`` starts as its one child.

Why supervisord, not a home-made loop or honcho: honcho runs a Procfile but restarts
nothing, and stops the lot as soon as one child exits. supervisord already does every
part that is easy to get wrong by hand:

- a child that exits is started again; one that dies again within ``startsecs`` is
  retried after 1 s, 2 s, 3 s (BACKOFF), and after ``startretries`` such failures in a row
  it is given up (FATAL). Its log, ``var/log/supervisord.log``, says each time;
- it stops the children in order (the app processes together, then Redis, so workers can
  still acknowledge what they finish), waits ``stopwaitsecs`` for each, then SIGKILLs its
  whole process group; every child runs in a process group of its own;
- a second SIGTERM while it is stopping does not abort the stop.

``marquee run`` writes ``var/supervisord.conf`` and runs ``supervisord -n`` in a session
of its own (so Ctrl-C reaches only ``marquee run``) with ``PR_SET_PDEATHSIG``, so that it
stops the stack even if ``marquee run`` is killed. It starts Redis, waits for it, then the
rest (over supervisord's unix socket, ``var/supervisor.sock``; ``supervisorctl -c
var/supervisord.conf status`` works while it runs), waits for the ingest service, and
writes ``var/stack.json``, which the other ``marquee`` commands read. The first Ctrl-C or
SIGTERM asks supervisord to stop; any more are ignored, so a stop always completes.

Everything under ``var/`` is private to the account that runs it, whatever its umask:
``var/`` and the directories in it are 0700, the files Marquee writes there (writers file,
ops token, ``stack.json``, supervisord's configuration) 0600, each written whole and
fsynced (shared/files.py). supervisord starts with umask 077, which every child inherits,
so Redis' append-only files, the logs and beat's schedule are private too. The archive
(``var/archive``) keeps those modes itself; the publish store (``var/publish``) is the
public site, 0644/0755 (shared/storage.py says why), behind ``var/``'s 0700 all the same.

The stack has an ops token: /ops and /metrics refuse everyone without one
(services/ingest/ops.py), and a loopback address is no reason to open them (a proxy or a
port-forward on the same machine makes it reachable). It is ``MARQUEE_OPS_TOKEN`` if set,
else the checkout's own, made once in ``var/ops-token`` and kept across runs so a
browser's saved password and a local Prometheus keep working. It is never printed:
``marquee run`` says where it is.

An event listener, this module run as ``python -m services.cli.supervisor listen``, notes
each unexpected exit and retry in ``var/log/watch.log`` (``marquee run`` prints the lines as
they come), and when a child goes FATAL records its name and stops the stack: ``marquee
run`` then says which one keeps crashing and exits 1.
"""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import xmlrpc.client
from pathlib import Path

import httpx

from services.cli.localstack import ensure_ops_token
from shared.connection import connect, parse_redis_address
from shared.files import make_private_dir, write_atomic
from shared.queues import QUEUES
from shared.writers import new_secret

STOP_GRACE_SECONDS = 15  # each child's time to finish what it holds, then SIGKILL
START_SECONDS = 5  # a child that exits sooner than this after starting did not start
START_RETRIES = 3  # failed starts in a row before a child is given up (FATAL)
RPC_TIMEOUT_SECONDS = 10  # a call to supervisord's XML-RPC interface
UNIX_PATH_MAX = 100  # a unix socket's path must be shorter than about 108 bytes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Stopping(Exception):
    """The stack is to stop: a signal asked, or supervisord gave a child up."""


def wait_until(check, *, timeout: float, what: str, stop: threading.Event | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stop is not None and stop.is_set():
            raise Stopping
        try:
            if check():
                return
        except Stopping:
            raise
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(0.1)
    raise SystemExit(f"marquee run: {what} did not come up within {timeout:.0f}s; see var/log/")


def ensure_writers_file(path: Path) -> bool:
    """Create a writers file with a ``dev`` writer; False if one was already there.

    ``dev`` gets a callback secret of its own beside its submitting secret, so giving it a
    ``callback_url`` is all a callback needs (shared/writers.py)."""
    if path.exists():
        return False
    # 0600 from the first byte: it holds the writer's webhook secrets.
    dev = {"secrets": [new_secret()], "callback_secrets": [new_secret()]}
    write_atomic(path, (json.dumps({"writers": {"dev": dev}}, indent=2) + "\n").encode())
    return True


def _value(text: str | Path) -> str:
    """A value for supervisord's config file, which expands ``%(name)s``."""
    return str(text).replace("%", "%%")


def _command(argv: list[str]) -> str:
    return _value(shlex.join(argv))


class Stack:
    """supervisord's configuration for the stack, and supervisord itself once started."""

    def __init__(self, root: Path):
        self.root = root
        self.var = root / "var"
        self.logs = self.var / "log"
        self.config = self.var / "supervisord.conf"
        self.fatal_file = self.var / "supervisord.fatal"
        self.watch_log = self.logs / "watch.log"  # what the event listener says, which we print
        self.watch_offset = 0
        self.socket_dir: Path | None = None  # a short temporary folder when var/ is too deep for a socket
        self.socket = self.var / "supervisor.sock"
        self.programs: list[tuple[str, list[str]]] = []  # started after Redis, together
        self.redis: list[str] | None = None
        self.supervisord: subprocess.Popen | None = None

    def add(self, name: str, argv: list[str]) -> None:
        self.programs.append((name, argv))

    def _program(self, name: str, argv: list[str], *, priority: int, autostart: bool) -> str:
        return f"""
[program:{name}]
command={_command(argv)}
directory={_value(self.root)}
priority={priority}
autostart={"true" if autostart else "false"}
autorestart=true
startsecs={START_SECONDS}
startretries={START_RETRIES}
stopsignal=TERM
stopwaitsecs={STOP_GRACE_SECONDS}
stopasgroup=false
killasgroup=true
redirect_stderr=true
stdout_logfile={_value(self.logs / f"{name}.log")}
stdout_logfile_maxbytes=0
"""

    def write_config(self) -> None:
        if len(str(self.socket)) > UNIX_PATH_MAX:
            self.socket_dir = Path(tempfile.mkdtemp(prefix="marquee-"))
            self.socket = self.socket_dir / "supervisor.sock"
        self.fatal_file.unlink(missing_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.watch_offset = self.watch_log.stat().st_size
        listener = [sys.executable, "-m", "services.cli.supervisor", "listen", str(self.fatal_file)]
        parts = [
            f"""; Written by `marquee run` each time it starts; edits are lost.
[supervisord]
nodaemon=true
silent=true
logfile={_value(self.logs / "supervisord.log")}
logfile_maxbytes=0
pidfile={_value(self.var / "supervisord.pid")}
childlogdir={_value(self.logs)}
directory={_value(self.root)}

[unix_http_server]
file={_value(self.socket)}
chmod=0700

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{_value(self.socket)}

[eventlistener:watch]
command={_command(listener)}
directory={_value(self.root)}
events=PROCESS_STATE_EXITED,PROCESS_STATE_BACKOFF,PROCESS_STATE_FATAL
priority=1
autorestart=true
stopwaitsecs={STOP_GRACE_SECONDS}
stdout_logfile=NONE
stderr_logfile={_value(self.watch_log)}
stderr_logfile_maxbytes=0
"""
        ]
        if self.redis:
            parts.append(self._program("redis", self.redis, priority=100, autostart=True))
        for index, (name, argv) in enumerate(self.programs):
            parts.append(self._program(name, argv, priority=200 + index, autostart=False))
        # One group, so supervisord stops them all at once and Redis only after them.
        parts.append(f"\n[group:marquee]\nprograms={','.join(name for name, _ in self.programs)}\npriority=200\n")
        write_atomic(self.config, "".join(parts).encode())

    def start(self, env: dict[str, str]) -> None:
        parent = os.getpid()

        def become_child() -> None:  # in the child, before exec
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: stop the stack if marquee run dies
            if os.getppid() != parent:  # it died before that took effect
                os._exit(1)
            # Inherited by supervisord and all it starts: Redis' files, the logs, beat's schedule.
            os.umask(0o077)
            # Ctrl-C and SIGTERM are ignored in marquee run from its first one; not here.
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)

        self.supervisord = subprocess.Popen(
            [sys.executable, "-m", "supervisor.supervisord", "-n", "-c", str(self.config)],
            env=env,
            cwd=self.root,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=become_child,
        )

    def rpc(self):
        """supervisord's XML-RPC interface, over its unix socket, each call bounded."""
        return xmlrpc.client.ServerProxy("http://localhost", transport=_UnixTransport(self.socket)).supervisor

    def check_alive(self) -> bool:
        """True while all is well; Stopping once a child is given up, SystemExit if supervisord has gone."""
        self.relay()
        if self.fatal():
            raise Stopping
        if self.supervisord is not None and self.supervisord.poll() is not None:
            raise SystemExit(
                f"marquee run: supervisord exited ({self.supervisord.returncode}); see var/log/supervisord.log"
            )
        return True

    def relay(self) -> None:
        """Print what the event listener said since last time (it cannot share our terminal safely)."""
        with contextlib.suppress(FileNotFoundError), self.watch_log.open("rb") as log:
            log.seek(self.watch_offset)
            text = log.read()
            text = text[: text.rfind(b"\n") + 1]  # whole lines only
            self.watch_offset += len(text)
            if text:
                print(text.decode(errors="replace"), end="", flush=True)

    def start_programs(self) -> None:
        self.rpc().startProcessGroup("marquee", False)

    def fatal(self) -> str | None:
        """The name of the child that supervisord gave up on, if one."""
        with contextlib.suppress(FileNotFoundError):
            return self.fatal_file.read_text().strip() or None
        return None

    def stop(self) -> None:
        """Ask supervisord to stop everything and wait; if it cannot, kill what it ran."""
        process = self.supervisord
        if process is not None:
            children = _children(process.pid)  # each leads its own process group
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            # supervisord waits STOP_GRACE_SECONDS for the app group, then as long for Redis.
            try:
                process.wait(timeout=2 * STOP_GRACE_SECONDS + 15)
            except subprocess.TimeoutExpired:
                print("  supervisord did not stop in time; killing everything it ran", flush=True)
                for pid in [process.pid, *children]:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(pid, signal.SIGKILL)
                process.wait()
        (self.var / "stack.json").unlink(missing_ok=True)
        self.fatal_file.unlink(missing_ok=True)
        self.socket.unlink(missing_ok=True)
        if self.socket_dir is not None:
            shutil.rmtree(self.socket_dir, ignore_errors=True)


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path):
        super().__init__("localhost", timeout=RPC_TIMEOUT_SECONDS)
        self.unix_path = str(path)

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


class _UnixTransport(xmlrpc.client.Transport):
    def __init__(self, path: Path):
        super().__init__()
        self.unix_path = path

    def make_connection(self, host):
        return _UnixConnection(self.unix_path)


def _children(parent: int) -> list[int]:
    """The pids whose parent is ``parent``, from /proc."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                if int(stat[stat.rfind(")") + 2 :].split()[1]) == parent:
                    pids.append(int(entry.name))
    return pids


def run_stack(root: Path) -> None:
    stop = threading.Event()

    def on_signal(signum, frame):
        # The first Ctrl-C or SIGTERM stops the stack; the stop is not to be interrupted.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    stack = Stack(root)
    make_private_dir(stack.var)
    make_private_dir(stack.logs)
    env = dict(os.environ)

    if "MARQUEE_REDIS_URL" not in env:
        server = shutil.which("redis-server")
        if server is None:
            raise SystemExit(
                "marquee run: redis-server is not installed (apt-get install redis-server), "
                "or set MARQUEE_REDIS_URL to a Redis you run"
            )
        port = free_port()
        make_private_dir(stack.var / "redis")
        stack.redis = [
            server,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--dir",
            str(stack.var / "redis"),
            "--appendonly",
            "yes",
            "--save",
            "",
            "--maxmemory-policy",
            "noeviction",
        ]
        env["MARQUEE_REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
    try:  # a URL of your own (redis:// or Sentinels): checked before anything starts
        redis_address = parse_redis_address(env["MARQUEE_REDIS_URL"], env.get("MARQUEE_REDIS_SENTINEL_MASTER") or None)
    except ValueError as exc:
        raise SystemExit(f"marquee run: {exc}") from None

    ingest_port = int(env.setdefault("MARQUEE_INGEST_PORT", "8000"))
    ingest_url = f"http://127.0.0.1:{ingest_port}"
    env.setdefault("MARQUEE_ARCHIVE_URL", str(stack.var / "archive"))
    env.setdefault("MARQUEE_PUBLISH_URL", str(stack.var / "publish"))
    env.setdefault("MARQUEE_PUBLIC_BASE_URL", f"{ingest_url}/site")
    writers_file = Path(env.setdefault("MARQUEE_WRITERS_FILE", str(stack.var / "writers.json")))
    created = ensure_writers_file(writers_file)
    # /ops and /metrics refuse everyone without a token (services/ingest/ops.py), so the stack
    # always has one: yours if set, else the checkout's own, kept in var/ops-token.
    token_source = "MARQUEE_OPS_TOKEN" if env.get("MARQUEE_OPS_TOKEN") else "var/ops-token"
    if not env.get("MARQUEE_OPS_TOKEN"):
        env["MARQUEE_OPS_TOKEN"] = ensure_ops_token(stack.var / "ops-token")

    stack.add("ingest", [sys.executable, "-m", "services.cli.main", "ingest"])
    for queue in QUEUES:
        # Social draws images: most of a review's CPU (docs/PERFORMANCE.md), so it gets a
        # process per core, as in docker-compose; the other stages one each.
        processes = str(os.cpu_count() or 1) if queue == "social" else "1"
        stack.add(
            f"worker-{queue}",
            [sys.executable, "-m", "services.cli.main", "worker", queue, "--concurrency", processes],
        )
    stack.add(
        "beat",
        [sys.executable, "-m", "services.cli.main", "beat", "--schedule-file", str(stack.var / "beat-schedule")],
    )
    stack.write_config()

    failed: str | None = None
    try:
        if stop.is_set():
            raise Stopping
        stack.start(env)
        wait_until(
            lambda: stack.check_alive() and stack.rpc().getState()["statename"] == "RUNNING",
            timeout=15,
            what="supervisord",
            stop=stop,
        )
        client = connect(redis_address)
        wait_until(lambda: stack.check_alive() and client.ping(), timeout=15, what="redis-server", stop=stop)
        stack.start_programs()
        wait_until(
            lambda: stack.check_alive() and httpx.get(f"{ingest_url}/readyz", timeout=2).status_code == 200,
            timeout=60,
            what="the ingest service",
            stop=stop,
        )
        stack_file = {
            "ingest_url": ingest_url,
            "redis_url": env["MARQUEE_REDIS_URL"],
            "redis_sentinel_master": redis_address.master,
            "writers_file": str(writers_file),
        }
        write_atomic(stack.var / "stack.json", json.dumps(stack_file).encode())  # a Redis URL may hold a password
        _welcome(ingest_url, writers_file, created, env["MARQUEE_PUBLISH_URL"])
        # The token itself is a secret: say where it is, never print it.
        print(
            f"Operations: {ingest_url}/ops  (any user name; the password is the ops token in {token_source}),\n"
            f"            {ingest_url}/metrics  (Authorization: Bearer <the same token>),\n"
            f"            or `marquee queues`, `failed`, `retry`, `reconcile`.\n",
            flush=True,
        )
        while not stop.is_set() and stack.check_alive():
            stop.wait(0.2)
        raise Stopping
    except Stopping:
        stack.relay()
        if failed := stack.fatal():
            print(f"\nmarquee run: {failed} keeps crashing; see var/log/{failed}.log", flush=True)
        print("\nstopping…", flush=True)
    finally:
        # Ignored from here on, whether a signal or a failure brought us here.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.stop()
        print("stopped.", flush=True)
    if failed:
        raise SystemExit(1)


def _welcome(ingest_url: str, writers_file: Path, created: bool, publish_url: str) -> None:
    marquee = Path(sys.executable).parent / "marquee"
    command = marquee if marquee.exists() else "marquee"
    print(
        f"""
Marquee is running.
  ingest     {ingest_url}   (status: {ingest_url}/v1/reviews/<id>)
  site       {ingest_url}/site/   (files in {publish_url})
  writers    {writers_file}{'  (created, with the writer "dev")' if created else ""}
  logs       var/log/

Submit a review (in another terminal, from this folder):

  {command} submit examples/reviews/the-salt-road.txt --writer dev --wait
  {command} submit examples/reviews/paper-lanterns.json --writer dev --wait

Ctrl-C stops everything.
""",
        flush=True,
    )


def listen(fatal_file: Path) -> None:
    """supervisord's event listener: say when a child exits or is retried; stop on one given up."""
    from supervisor import childutils

    while True:
        headers, payload = childutils.listener.wait(sys.stdin, sys.stdout)
        event = headers["eventname"]
        fields = childutils.get_headers(payload.split("\n", 1)[0])
        name = fields.get("processname", "?")
        if event == "PROCESS_STATE_EXITED" and fields.get("expected") == "0":
            _say(f"{name} exited unexpectedly; starting it again (see var/log/{name}.log)")
        elif event == "PROCESS_STATE_BACKOFF" and (tries := int(fields.get("tries", 0))) <= START_RETRIES:
            # supervisord waits a second longer each time; after the last it gives up (FATAL).
            _say(f"{name} exited while starting; trying again in {tries} s (see var/log/{name}.log)")
        elif event == "PROCESS_STATE_FATAL":
            write_atomic(fatal_file, (name + "\n").encode())
            os.kill(os.getppid(), signal.SIGTERM)  # supervisord: stop everything
        childutils.listener.ok(sys.stdout)


def _say(message: str) -> None:
    print(f"marquee run: {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["listen"] and len(sys.argv) == 3:
        listen(Path(sys.argv[2]))
    else:
        raise SystemExit("usage: python -m services.cli.supervisor listen FATAL_FILE (supervisord runs it)")
