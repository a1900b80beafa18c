"""Settings: one class, read once from the environment (prefix ``MARQUEE_``).

A required setting that is missing stops the process at start-up with its name,
rather than failing later inside a task.
"""

from __future__ import annotations

import functools
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared.connection import RedisAddress, parse_redis_address

OPS_TOKEN_MIN_LENGTH = 16


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MARQUEE_", extra="ignore")

    # Required: there is no sensible default for where data lives.
    redis_url: str = Field(
        repr=False,  # it may hold a password
        description="Redis URL: Celery broker, submission state and events; redis://… or sentinel://…;sentinel://…",
    )
    archive_url: str = Field(description="Private store: raw requests and work in progress.")
    publish_url: str = Field(description="Public store: what readers and downstream channels get.")
    public_base_url: str = Field(description="Public URL prefix of the publish store.")
    writers_file: Path = Field(description="JSON file of writers and their webhook secrets.")

    # With a sentinel:// URL, the name of the master the Sentinels monitor (shared/connection.py).
    redis_sentinel_master: str | None = None

    ingest_host: str = "127.0.0.1"
    ingest_port: int = 8000
    max_body_bytes: int = 1024 * 1024
    rate_limit: str = "60/minute"  # per writer, in the `limits` package's notation

    # Reliability. A message is redelivered when it has been unacked for longer than the
    # visibility timeout, so it must outlast the longest task plus its retry countdown.
    task_time_limit: int = 120
    task_soft_time_limit: int = 100
    max_retries: int = 6
    retry_backoff_max: int = 300
    visibility_timeout: int = 3600
    unacked_restore_interval: int = 10
    release_interval: float = 5.0  # how often beat looks for embargoes to lift, in seconds
    # How long a task keeps trying to send a message (a hand-off, or its own retry) while the
    # broker is away, in seconds. It must outlast a Sentinel failover (down-after-milliseconds
    # plus a second or two), or a task that met the failover ends failed instead of retrying.
    publish_retry_for: float = Field(default=15.0, ge=0)

    # The sweeper (shared/operations/sweeper.py): how often it looks, in seconds (unset: 30,
    # or half the threshold if that is less); how long a submission may stand still with no
    # message to move it on before it is sent on again (unset: twice the hard time limit);
    # and how often it is sent on before it is failed as stalled. A stalled submission is
    # sent on after the threshold plus one or two intervals.
    sweep_interval: float | None = Field(default=None, gt=0)
    sweep_stalled_after: float | None = Field(default=None, gt=0)
    sweep_max_resends: int = Field(default=3, ge=1)

    # Retention of a review's old revisions (reviews/<slug>/r/<n>/): the newest this many are
    # kept, and any other that was live within the age (in seconds), so a consumer that
    # fetched its manifest then is never cut off mid-read. The live revision always stays.
    retention_keep: int = Field(default=5, ge=1)
    retention_min_age: float = Field(default=24 * 3600, ge=0)

    # Outbound webhooks: who gets which events, and how hard we try.
    subscribers_file: Path | None = None
    webhook_max_attempts: int = 8
    webhook_timeout: float = 10.0
    # Outbound webhooks go to public addresses only (shared/outbound/guard.py); these ranges
    # are let through as well, e.g. a partner on a private network, or loopback in tests.
    outbound_allow: Annotated[tuple[IPv4Network | IPv6Network, ...], NoDecode] = ()

    # The /ops dashboard and /metrics of the ingest service. Unset, both refuse every request
    # (401): they are never served open (services/ingest/ops.py says why).
    ops_token: str | None = Field(
        default=None, repr=False, description="Bearer token (or Basic password) for /ops and /metrics."
    )

    # Some S3-compatible servers reject botocore's newer default checksum headers.
    s3_checksum_calculation: Literal["when_supported", "when_required"] = "when_supported"
    s3_timeout: float = 20.0  # seconds to wait for an S3 answer before retrying
    s3_max_attempts: int = 5  # tries of one S3 call (botocore: 500s, 503s, resets), and of a GET whose body breaks off

    # Teaser videos (services/video): made for each review once it is published. Off, a
    # published review gets none (and the video worker has nothing to do).
    video_enabled: bool = True
    # The teaser video's voice (services/video/voice.py): the text-to-speech engine and its
    # voice. Only espeak-ng ships; another engine is a class in VOICES and a name here.
    video_voice: Literal["espeak-ng"] = "espeak-ng"
    video_voice_name: str = Field(default="en-gb", pattern=r"^[A-Za-z0-9][A-Za-z0-9_+-]{0,39}$")

    @field_validator("outbound_allow", mode="before")
    @classmethod
    def _split_ranges(cls, value: object) -> object:
        # Comma-separated in the environment ("10.1.0.0/16,127.0.0.1/32"), not JSON.
        if not isinstance(value, str):
            return value
        ranges = []
        for part in filter(None, (p.strip() for p in value.split(","))):
            try:
                ranges.append(ip_network(part, strict=True))
            except ValueError as exc:
                raise ValueError(
                    f"{part!r} is not a CIDR range ({exc}); give comma-separated ranges, e.g. 10.1.0.0/16,127.0.0.1/32"
                ) from None
        return tuple(ranges)

    @field_validator("ops_token")
    @classmethod
    def _check_ops_token(cls, token: str | None) -> str | None:
        # An empty value is a variable left blank: as good as unset. A short one is a mistake
        # to stop at start-up, not a door to leave half open. The message never echoes it.
        if not token:
            return None
        if "REPLACE_ME" in token:  # deploy/k8s/secret.template.yaml's placeholder, published
            raise ValueError("is still the template's placeholder; set a token of your own")
        if len(token) < OPS_TOKEN_MIN_LENGTH:
            raise ValueError(
                f"must be at least {OPS_TOKEN_MIN_LENGTH} characters (e.g. the output of `openssl rand -hex 32`)"
            )
        return token

    @model_validator(mode="after")
    def _check_redis(self) -> Settings:
        parse_redis_address(self.redis_url, self.redis_sentinel_master or None)  # its ValueError names the problem
        return self

    @property
    def redis(self) -> RedisAddress:
        """Where Redis is: the URL and, with Sentinels, the master's name, read and checked."""
        return parse_redis_address(self.redis_url, self.redis_sentinel_master or None)

    @model_validator(mode="after")
    def _check_timeouts(self) -> Settings:
        if self.task_soft_time_limit >= self.task_time_limit:
            raise ValueError("MARQUEE_TASK_SOFT_TIME_LIMIT must be below MARQUEE_TASK_TIME_LIMIT")
        floor = self.task_time_limit + self.retry_backoff_max
        if self.visibility_timeout <= floor:
            raise ValueError(
                f"MARQUEE_VISIBILITY_TIMEOUT ({self.visibility_timeout}s) must exceed "
                f"MARQUEE_TASK_TIME_LIMIT + MARQUEE_RETRY_BACKOFF_MAX ({floor}s), "
                "or slow tasks are delivered twice"
            )
        # A run holds its message (acks late) until it ends, so a submission with none in
        # flight is stalled, unless Redis lost its record of that message (a failover) while a
        # worker still runs it: waiting past the hard limit means that run has ended.
        if self.stalled_after <= self.task_time_limit:
            raise ValueError(
                f"MARQUEE_SWEEP_STALLED_AFTER ({self.stalled_after:g}s) must exceed "
                f"MARQUEE_TASK_TIME_LIMIT ({self.task_time_limit}s), "
                "or the sweeper may send on work a worker is still doing"
            )
        if self.sweep_every >= self.stalled_after:
            raise ValueError(
                f"MARQUEE_SWEEP_INTERVAL ({self.sweep_every:g}s) must be below "
                f"MARQUEE_SWEEP_STALLED_AFTER ({self.stalled_after:g}s)"
            )
        return self

    @property
    def sweep_every(self) -> float:
        """Seconds between sweeps."""
        return self.sweep_interval if self.sweep_interval is not None else min(30.0, self.stalled_after / 2)

    @property
    def stalled_after(self) -> float:
        """Seconds a submission may stand still, with no message for it, before the sweeper acts."""
        return self.sweep_stalled_after if self.sweep_stalled_after is not None else 2.0 * self.task_time_limit


class MissingSettingError(SystemExit):
    """Raised at start-up; exits with a message naming every missing or bad setting."""


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = "MARQUEE_" + "_".join(str(p) for p in err["loc"]).upper() if err["loc"] else ""
            if err["type"] == "missing":
                lines.append(f"  {name} is required but not set")
            else:
                lines.append(f"  {name}: {err['msg']}".replace("  : ", "  "))
        raise MissingSettingError("Marquee cannot start:\n" + "\n".join(lines)) from None
