"""shared/connection.py: one Redis URL setting that names one server or the Sentinels of one."""

from __future__ import annotations

import pytest

from shared import config
from shared.connection import RedisAddress, parse_redis_address

SENTINELS = "sentinel://:s3cret@10.0.0.1:26379/2;sentinel://10.0.0.2:26380;sentinel://10.0.0.3"


def test_a_plain_redis_url_is_kept_as_it_is():
    address = parse_redis_address("redis://127.0.0.1:6379/4")
    assert address == RedisAddress(url="redis://127.0.0.1:6379/4")
    assert not address.uses_sentinel


def test_a_sentinel_url_names_every_sentinel_the_database_and_the_password():
    address = parse_redis_address(SENTINELS, "mymaster")
    assert address.uses_sentinel and address.master == "mymaster"
    assert address.sentinels == (("10.0.0.1", 26379), ("10.0.0.2", 26380), ("10.0.0.3", 26379))
    assert (address.db, address.password) == (2, "s3cret")
    assert address.url == SENTINELS  # the broker (kombu) is given the same string


@pytest.mark.parametrize(
    ("url", "master", "problem"),
    [
        ("sentinel://10.0.0.1:26379", None, "set MARQUEE_REDIS_SENTINEL_MASTER"),
        ("redis://10.0.0.1:6379/0", "mymaster", "is not a Sentinel URL"),
        ("sentinel://10.0.0.1:26379;redis://10.0.0.2:6379", "m", "'redis://10.0.0.2:6379' is not sentinel://host:port"),
        ("sentinel://10.0.0.1:26379;sentinel://:pw@10.0.0.2:26379", "m", "on the first sentinel:// URL only"),
        ("sentinel://10.0.0.1:26379/main", "m", "'main' is not a number"),
        ("sentinel://10.0.0.1:port", "m", "port that is not a number"),
    ],
)
def test_a_wrong_redis_setting_is_named(url, master, problem):
    with pytest.raises(ValueError, match="MARQUEE_REDIS") as caught:
        parse_redis_address(url, master)
    assert problem in str(caught.value)


def test_the_password_never_appears_in_the_message():
    with pytest.raises(ValueError) as caught:
        parse_redis_address("sentinel://h:1;sentinel://:hunter22@h2:2", "m")
    assert "hunter22" not in str(caught.value)
    with pytest.raises(ValueError) as caught:
        parse_redis_address("sentinel://h:1;http://:hunter22@h2:2", "m")
    assert "hunter22" not in str(caught.value) and "***" in str(caught.value)


def test_settings_stop_at_start_up_on_a_sentinel_url_without_a_master(monkeypatch):
    for name, value in {
        "MARQUEE_REDIS_URL": "sentinel://10.0.0.1:26379;sentinel://10.0.0.2:26379",
        "MARQUEE_ARCHIVE_URL": "/tmp/a",
        "MARQUEE_PUBLISH_URL": "/tmp/p",
        "MARQUEE_PUBLIC_BASE_URL": "http://x",
        "MARQUEE_WRITERS_FILE": "/tmp/w.json",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("MARQUEE_REDIS_SENTINEL_MASTER", raising=False)
    config.get_settings.cache_clear()
    try:
        with pytest.raises(config.MissingSettingError, match="set MARQUEE_REDIS_SENTINEL_MASTER"):
            config.get_settings()
        monkeypatch.setenv("MARQUEE_REDIS_SENTINEL_MASTER", "mymaster")
        config.get_settings.cache_clear()
        assert config.get_settings().redis.sentinels == (("10.0.0.1", 26379), ("10.0.0.2", 26379))
    finally:
        config.get_settings.cache_clear()
