"""The one way every process connects to Redis: decoded strings, bounded waits, health checks.

Redis is named by one URL (``MARQUEE_REDIS_URL``), in one of two forms:

- ``redis://[[user]:password@]host:port[/db]`` (or ``rediss://``, ``unix://``): one server,
  read by redis-py as it always was;
- ``sentinel://[[user]:password@]host:port[/db];sentinel://host:port;…`` with the name of the
  master (``MARQUEE_REDIS_SENTINEL_MASTER``): the Redis Sentinels that know which server is the
  primary. Each new connection asks them, so after a failover the next one reaches the new
  primary. It is kombu's and Celery's own form (broker URL plus the ``master_name`` transport
  option), so the broker is given the same string. The user, password and database are
  written on the first URL only, as kombu reads them from there; the password is the Redis
  servers' and the Sentinels' alike.

``parse_redis_address`` checks the pair at start-up (Settings calls it), so a mistake stops the
process with a message naming it instead of failing in the first task.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import redis
from redis.sentinel import Sentinel

SENTINEL_SCHEME = "sentinel"
SENTINEL_DEFAULT_PORT = 26379

# Bounded waits everywhere: a Redis that stops answering is an error to report, not a hang.
_SOCKET_OPTIONS = {"socket_timeout": 10, "socket_connect_timeout": 5}


@dataclass(frozen=True)
class RedisAddress:
    """Where Redis is: one server's URL, or Sentinels and the name of the master they watch."""

    url: str  # as given: the broker takes it as it is
    master: str | None = None  # set for Sentinel
    sentinels: tuple[tuple[str, int], ...] = ()
    db: int = 0
    username: str | None = None
    password: str | None = None

    @property
    def uses_sentinel(self) -> bool:
        return self.master is not None


def parse_redis_address(url: str, master: str | None = None) -> RedisAddress:
    """Read a Redis URL (and, for Sentinels, the master's name); ValueError names any problem."""
    url = url.strip()
    if not url.startswith(f"{SENTINEL_SCHEME}://"):
        if master:
            raise ValueError(
                "MARQUEE_REDIS_SENTINEL_MASTER is set but MARQUEE_REDIS_URL is not a Sentinel URL "
                "(sentinel://host:26379;sentinel://host2:26379); unset it to use one Redis server"
            )
        return RedisAddress(url=url)  # read by redis-py (and kombu) as before, unchanged
    if not master:
        raise ValueError(
            "MARQUEE_REDIS_URL names Sentinels; set MARQUEE_REDIS_SENTINEL_MASTER to the name of "
            "the master they monitor (the name in their `sentinel monitor` line)"
        )
    sentinels: list[tuple[str, int]] = []
    db, username, password = 0, None, None
    for index, part in enumerate(p.strip() for p in url.split(";")):
        if not part:
            continue
        parsed = urlsplit(part)
        if parsed.scheme != SENTINEL_SCHEME or not parsed.hostname:
            raise ValueError(
                f"MARQUEE_REDIS_URL: {_without_password(part)!r} is not sentinel://host:port "
                "(separate Sentinels with ';', each with its own sentinel://)"
            )
        try:
            port = parsed.port or SENTINEL_DEFAULT_PORT
        except ValueError:
            raise ValueError(
                f"MARQUEE_REDIS_URL: {_without_password(part)!r} has a port that is not a number"
            ) from None
        path = parsed.path.strip("/")
        if index == 0:
            username = unquote(parsed.username) if parsed.username else None
            password = unquote(parsed.password) if parsed.password else None
            if path and not path.isdigit():
                raise ValueError(f"MARQUEE_REDIS_URL: the database {path!r} is not a number")
            db = int(path or 0)
        elif parsed.username or parsed.password or path:
            raise ValueError(
                "MARQUEE_REDIS_URL: write the password and database on the first sentinel:// URL only "
                "(kombu, the Celery broker, reads them from there)"
            )
        sentinels.append((parsed.hostname, port))
    if not sentinels:
        raise ValueError("MARQUEE_REDIS_URL names no Sentinel")
    return RedisAddress(url=url, master=master, sentinels=tuple(sentinels), db=db, username=username, password=password)


def _without_password(url: str) -> str:
    parsed = urlsplit(url)
    if parsed.password is None:
        return url
    return url.replace(f":{parsed.password}@", ":***@", 1)


def sentinel_options(address: RedisAddress) -> dict[str, object]:
    """What the connections to the Sentinels themselves need: bounded waits, and the password."""
    options: dict[str, object] = dict(_SOCKET_OPTIONS)
    if address.password:
        options["password"] = address.password
    if address.username:
        options["username"] = address.username
    return options


@functools.lru_cache(maxsize=4)
def connect(address: RedisAddress | str) -> redis.Redis:
    """A client for ``address``, one per address in a process (it pools its own connections).

    For Sentinels the client's pool asks them for the primary whenever it opens a connection,
    and drops connections to a server that has become a replica (redis-py's
    ``SentinelConnectionPool``), so a failover costs the commands in flight, not a restart.
    """
    if isinstance(address, str):
        address = parse_redis_address(address)
    if not address.uses_sentinel:
        return redis.Redis.from_url(address.url, decode_responses=True, health_check_interval=30, **_SOCKET_OPTIONS)
    sentinel = Sentinel(
        list(address.sentinels),
        sentinel_kwargs=sentinel_options(address),
        db=address.db,
        username=address.username,
        password=address.password,
        **_SOCKET_OPTIONS,
    )
    assert address.master is not None  # uses_sentinel
    return sentinel.master_for(address.master, decode_responses=True, health_check_interval=30)
