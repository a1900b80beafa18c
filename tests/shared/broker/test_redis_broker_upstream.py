"""shared/broker/redis_broker.py overrides kombu's Redis ``Channel`` and leans on how kombu
closes it. The fix was worked out against the source of kombu 5.7.0 (with celery 5.7.0,
both pinned exactly in pyproject.toml); these fingerprints fail the suite as soon as that
source is different, so the fix is re-verified rather than silently kept or silently lost.

A fingerprint is the sha256 of the method's ``inspect.getsource``, normalised: dedented,
trailing whitespace, blank lines and whole-line comments dropped. Reformatting or a
reworded comment on its own line does not trip it; any change to the code does.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import inspect
import re
import textwrap

import kombu
import kombu.connection
import pytest
from kombu.transport import redis as kombu_redis

RECORDED_AGAINST = "kombu 5.7.0"
FIX = "shared/broker/redis_broker.py"

# name: (the upstream function, its fingerprint, what to re-verify in FIX if it changed)
UPSTREAM = {
    "kombu.transport.redis.Channel.close": (
        kombu_redis.Channel.close,
        "e432a00c5593503e2f15e5b8fc4d9bd9621dc6dc25e3c8863419b65fb447bf7c",
        (
            "Channel.close is overridden to swallow a connection error while reading the in-flight "
            "BRPOP reply, then call super().close(). Check whether kombu's close now tolerates that "
            "error itself (then drop the override, as the module docstring says), and that the channel "
            "still ends up closed while the transport is attached."
        ),
    ),
    "kombu.transport.redis.Channel._brpop_read": (
        kombu_redis.Channel._brpop_read,  # type: ignore[attr-defined]  # private: kombu's stubs leave it out
        "8dffdd33e02e92cf8cc1b926ac45a685418fc44165775c8e1b1d9d6a6ce76803",
        (
            "The overriding close relies on _brpop_read resetting _in_poll whatever happens (so kombu's "
            "close does not read the reply again) and on it raising a connection error, or Empty, when "
            "there is no reply. Check both still hold."
        ),
    ),
    "kombu.transport.redis.Channel._create_client": (
        kombu_redis.Channel._create_client,  # type: ignore[attr-defined]  # private: kombu's stubs leave it out
        "6b81dc416d4e243ce27c3d90f1e47e9f06d7f2b1631a5e396595918486d2892b",
        (
            "Channel._create_client is overridden to keep one synchronous redis client per channel, "
            "on the channel's pool. Check kombu still builds a fresh client per call and that a "
            "cached one is still safe (same pool, same options)."
        ),
    ),
    "kombu.transport.redis.Channel._connparams": (
        kombu_redis.Channel._connparams,  # type: ignore[attr-defined]  # private: kombu's stubs leave it out
        "ec0dc65b9428e4ee4a28f6a13223a042a840e443d8e33e79995bba5ce8a42257",
        (
            "Channel._connparams is overridden to raise a redis ConnectionError (which kombu's publish "
            "retry answers by reconnecting) instead of kombu's AttributeError when the channel's "
            "transport was detached. Check how kombu now reads the connection's parameters."
        ),
    ),
    "kombu.transport.redis.SentinelChannel._sentinel_managed_pool": (
        kombu_redis.SentinelChannel._sentinel_managed_pool,  # type: ignore[attr-defined]  # private: not in the stubs
        "b7c61cbd45460a4c66602e9688860492ff628fd127da1339374c9bc7571569e7",
        (
            "shared/broker/redis_broker.py's SentinelChannel puts the fixed Channel in front of kombu's "
            "SentinelChannel. Its pool is built from _connparams (which the fix guards) and the "
            "connection's alternates; check it still is, and that a detached transport still fails there."
        ),
    ),
    "kombu.transport.redis.SentinelChannel._get_pool": (
        kombu_redis.SentinelChannel._get_pool,  # type: ignore[attr-defined]  # private: not in the stubs
        "bc4303010c1ae70f10c06c75ae240b5e1ac99860ce9224029978b7c6471e002a",
        "Check SentinelChannel still gets its pool through _sentinel_managed_pool and _connparams.",
    ),
    "kombu.connection.Connection._do_close_transport": (
        kombu.connection.Connection._do_close_transport,
        "9745663c2400cd8cbccfc5b8e6e81a2572adae0ac88475fffb2e5827478d2eed",
        (
            "The crash the fix prevents comes from Connection.collect() detaching the transport "
            "(transport.client = None) before Celery closes the channel again. Check that is still "
            "what happens, and whether the fix is still needed."
        ),
    ),
}


def normalise(source: str) -> str:
    lines = textwrap.dedent(source.replace("\r\n", "\n")).split("\n")
    return "\n".join(line.rstrip() for line in lines if line.strip() and not re.match(r"\s*#", line))


def fingerprint(function) -> str:
    return hashlib.sha256(normalise(inspect.getsource(function)).encode()).hexdigest()


@pytest.mark.parametrize("name", UPSTREAM)
def test_the_kombu_code_the_broker_fix_depends_on_is_unchanged(name):
    function, recorded, recheck = UPSTREAM[name]
    current = fingerprint(function)
    assert current == recorded, (
        f"\n{name} is not the code {FIX} was verified against ({RECORDED_AGAINST}; kombu "
        f"{importlib.metadata.version('kombu')} is installed).\nRevisit {FIX}: {recheck}\n"
        f"Then run tests/shared/broker/test_redis_broker.py and `make chaos` (MARQUEE_CHAOS_ONLY=2: "
        f"Redis restarted under load, no worker may exit), update the kombu/celery pins in "
        f"pyproject.toml, and record the new fingerprint here: {current}"
    )


def test_the_fingerprint_ignores_layout_and_comment_lines_but_not_code():
    code = "    def f(a):\n        # why\n        return a + 1  # inline\n"
    relaid = "def f(a):\r\n\r\n    # why, reworded\r\n    return a + 1  # inline   \r\n"
    changed = "def f(a):\n    return a + 2  # inline\n"
    assert normalise(code) == normalise(relaid) == "def f(a):\n    return a + 1  # inline"
    assert normalise(changed) != normalise(code)


def test_every_method_the_fix_overrides_has_a_fingerprint():
    from shared.broker.redis_broker import Channel

    overridden = {
        f"kombu.transport.redis.Channel.{name}"
        for name, value in vars(Channel).items()
        if inspect.isfunction(value) and hasattr(kombu_redis.Channel, name)
    }
    assert overridden, f"{FIX} overrides no Channel method any more: is this test still needed?"
    assert overridden <= UPSTREAM.keys(), f"record a fingerprint for {sorted(overridden - UPSTREAM.keys())}"


def test_kombus_sentinel_channel_inherits_every_method_the_fix_replaces_or_relies_on():
    # If kombu's SentinelChannel overrode one of these, our Channel in front of it would hide
    # that override: the fix would then need re-checking against the Sentinel code too.
    from shared.broker.redis_broker import SentinelChannel, SentinelTransport

    own = vars(kombu_redis.SentinelChannel)
    assert not {"close", "_brpop_read", "_create_client", "_connparams"} & own.keys()
    assert SentinelTransport.Channel is SentinelChannel
    assert SentinelChannel.close is not kombu_redis.Channel.close  # the fix comes first in the MRO
