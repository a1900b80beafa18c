"""A Redis with Sentinel failover on loopback: a primary, two replicas and three Sentinels.

Every process binds 127.0.0.1 on a free port and is stopped by ``stop()``. The Sentinels
(``redis-server --sentinel``, which the redis-server package includes) agree on a failover
with a quorum of 2, call the primary down after ``down_after_ms`` without an answer, and
promote one replica; Marquee is pointed at them with ``url`` and ``MASTER``, as a deployment
would be (shared/connection.py).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, cast

import redis

from tests.support.processes import RedisServer, free_port, poll, stop_processes


class SentinelCluster:
    MASTER = "marquee"

    def __init__(
        self,
        workdir: Path,
        *,
        replicas: int = 2,
        sentinels: int = 3,
        quorum: int = 2,
        down_after_ms: int = 1000,
        failover_timeout_ms: int = 3000,
    ):
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.quorum = quorum
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms
        self.primary = RedisServer(self.dir / "redis-0")
        replicaof = ("--replicaof", "127.0.0.1", str(self.primary.port))
        self.replicas = [RedisServer(self.dir / f"redis-{n}", extra_args=replicaof) for n in range(1, replicas + 1)]
        self.sentinel_ports = [free_port() for _ in range(sentinels)]
        self.sentinels: list[subprocess.Popen] = []

    @property
    def servers(self) -> list[RedisServer]:
        return [self.primary, *self.replicas]

    def url(self, db: int = 0) -> str:
        """MARQUEE_REDIS_URL for this cluster (with MARQUEE_REDIS_SENTINEL_MASTER=MASTER)."""
        first, *rest = (f"sentinel://127.0.0.1:{port}" for port in self.sentinel_ports)
        return ";".join([f"{first}/{db}", *rest])

    def env(self, db: int = 0) -> dict[str, str]:
        return {"MARQUEE_REDIS_URL": self.url(db), "MARQUEE_REDIS_SENTINEL_MASTER": self.MASTER}

    def start(self) -> SentinelCluster:
        server = shutil.which("redis-server")
        assert server, "redis-server is not installed (make test installs it)"
        for redis_server in self.servers:
            redis_server.start()
        for n, port in enumerate(self.sentinel_ports):
            home = self.dir / f"sentinel-{n}"
            home.mkdir(exist_ok=True)
            config = home / "sentinel.conf"  # Sentinel rewrites its own file: one each
            config.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {home}\n"
                f"sentinel monitor {self.MASTER} 127.0.0.1 {self.primary.port} {self.quorum}\n"
                f"sentinel down-after-milliseconds {self.MASTER} {self.down_after_ms}\n"
                f"sentinel failover-timeout {self.MASTER} {self.failover_timeout_ms}\n"
                f"sentinel parallel-syncs {self.MASTER} 1\n"
            )
            self.sentinels.append(
                subprocess.Popen(
                    [server, str(config), "--sentinel"],
                    stdout=open(home / "sentinel.log", "ab"),  # noqa: SIM115 - the child writes to it while it lives
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        # Ready when every Sentinel knows the primary, both replicas and the other Sentinels,
        # and the replicas are in sync: only then can a failover be agreed and lose nothing old.
        poll(self._ready, timeout=30, what="the Sentinels to see the primary, its replicas and each other")
        return self

    def _ready(self) -> bool:
        for port in self.sentinel_ports:
            state = cast("dict[str, Any]", self._sentinel(port).sentinel_master(self.MASTER))
            if state["num-slaves"] < len(self.replicas) or state["num-other-sentinels"] < len(self.sentinel_ports) - 1:
                return False
        return all(
            redis.Redis(port=r.port).info("replication").get("master_link_status") == "up" for r in self.replicas
        )

    def _sentinel(self, port: int) -> redis.Redis:
        return redis.Redis(port=port, decode_responses=True, socket_timeout=2, socket_connect_timeout=1)

    def master_port(self) -> int | None:
        """The primary's port as the Sentinels report it (the first that answers)."""
        for port in self.sentinel_ports:
            with contextlib.suppress(redis.RedisError):
                address = cast(
                    "tuple[str, int] | None", self._sentinel(port).sentinel_get_master_addr_by_name(self.MASTER)
                )
                if address:
                    return int(address[1])
        return None

    def server_on(self, port: int) -> RedisServer:
        return next(s for s in self.servers if s.port == port)

    def kill_primary(self) -> RedisServer:
        """SIGKILL the current primary: no flush, no goodbye, as a machine that dies."""
        port = self.master_port()
        assert port is not None, "no Sentinel knows the primary"
        server = self.server_on(port)
        assert server.process is not None
        os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait()
        return server

    def wait_for_new_primary(self, old_port: int, *, timeout: float) -> float:
        """Poll until the Sentinels name a primary other than ``old_port``; the time it happened."""
        poll(lambda: (port := self.master_port()) is not None and port != old_port, timeout=timeout, what="a failover")
        return time.monotonic()

    def stop(self) -> None:
        stop_processes(*self.sentinels)
        for server in self.servers:
            server.stop()
