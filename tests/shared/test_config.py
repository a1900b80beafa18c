import pytest

from shared import config
from shared.config import MissingSettingError, get_settings

REQUIRED = (
    "MARQUEE_REDIS_URL",
    "MARQUEE_ARCHIVE_URL",
    "MARQUEE_PUBLISH_URL",
    "MARQUEE_PUBLIC_BASE_URL",
    "MARQUEE_WRITERS_FILE",
)


@pytest.fixture
def environment(monkeypatch):
    for name in REQUIRED:
        monkeypatch.setenv(name, "x")
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def test_a_missing_required_setting_stops_start_up_naming_it(environment):
    environment.delenv("MARQUEE_PUBLISH_URL")
    environment.delenv("MARQUEE_WRITERS_FILE")
    with pytest.raises(MissingSettingError) as caught:
        get_settings()
    message = str(caught.value)
    assert "MARQUEE_PUBLISH_URL is required" in message and "MARQUEE_WRITERS_FILE is required" in message
    assert "MARQUEE_REDIS_URL" not in message


def test_a_visibility_timeout_shorter_than_a_task_and_its_backoff_is_refused(environment):
    environment.setenv("MARQUEE_VISIBILITY_TIMEOUT", "100")
    environment.setenv("MARQUEE_TASK_TIME_LIMIT", "60")
    environment.setenv("MARQUEE_TASK_SOFT_TIME_LIMIT", "50")
    environment.setenv("MARQUEE_RETRY_BACKOFF_MAX", "60")
    with pytest.raises(MissingSettingError, match="MARQUEE_VISIBILITY_TIMEOUT"):
        get_settings()


def test_settings_are_read_once(environment):
    first = get_settings()
    environment.setenv("MARQUEE_REDIS_URL", "redis://elsewhere")
    assert get_settings() is first and config.get_settings().redis_url == "x"


def test_retention_keeps_at_least_the_live_revision_and_no_negative_age(environment):
    assert (get_settings().retention_keep, get_settings().retention_min_age) == (5, 24 * 3600)
    for name, value in (("MARQUEE_RETENTION_KEEP", "0"), ("MARQUEE_RETENTION_MIN_AGE", "-1")):
        get_settings.cache_clear()
        with environment.context() as scoped:
            scoped.setenv(name, value)
            with pytest.raises(MissingSettingError, match=name):
                get_settings()


def test_the_sweeper_waits_past_the_hard_time_limit_and_looks_more_often_than_it_waits(environment):
    assert get_settings().stalled_after == 2 * get_settings().task_time_limit  # derived when unset
    assert get_settings().sweep_every == 30
    get_settings.cache_clear()
    with environment.context() as scoped:  # a short time limit brings the sweeps closer, by itself
        scoped.setenv("MARQUEE_TASK_TIME_LIMIT", "4")
        scoped.setenv("MARQUEE_TASK_SOFT_TIME_LIMIT", "3")
        assert (get_settings().stalled_after, get_settings().sweep_every) == (8, 4)
    refused = (
        (
            {"MARQUEE_SWEEP_STALLED_AFTER": "120"},
            "MARQUEE_SWEEP_STALLED_AFTER (120s) must exceed MARQUEE_TASK_TIME_LIMIT",
        ),
        (
            {"MARQUEE_SWEEP_STALLED_AFTER": "200", "MARQUEE_SWEEP_INTERVAL": "200"},
            "MARQUEE_SWEEP_INTERVAL (200s) must be below",
        ),
        ({"MARQUEE_SWEEP_INTERVAL": "0"}, "MARQUEE_SWEEP_INTERVAL"),
        ({"MARQUEE_SWEEP_MAX_RESENDS": "0"}, "MARQUEE_SWEEP_MAX_RESENDS"),
    )
    for settings, message in refused:
        get_settings.cache_clear()
        with environment.context() as scoped:
            for name, value in settings.items():
                scoped.setenv(name, value)
            with pytest.raises(MissingSettingError, match=message.replace("(", r"\(").replace(")", r"\)")):
                get_settings()
    get_settings.cache_clear()
    environment.setenv("MARQUEE_SWEEP_STALLED_AFTER", "121")
    assert get_settings().stalled_after == 121


def test_outbound_allow_is_comma_separated_ranges_and_a_bad_one_is_named(environment):
    assert get_settings().outbound_allow == ()
    get_settings.cache_clear()
    environment.setenv("MARQUEE_OUTBOUND_ALLOW", "127.0.0.1/32, 10.20.0.0/16,::1/128")
    assert [str(n) for n in get_settings().outbound_allow] == ["127.0.0.1/32", "10.20.0.0/16", "::1/128"]
    for bad in ("10.20.0.1/16", "localhost", "10.0.0.0/33"):
        get_settings.cache_clear()
        environment.setenv("MARQUEE_OUTBOUND_ALLOW", bad)
        with pytest.raises(MissingSettingError, match=f"MARQUEE_OUTBOUND_ALLOW: .*{bad}.* is not a CIDR range"):
            get_settings()


def test_an_ops_token_is_long_enough_or_unset(environment):
    assert get_settings().ops_token is None
    for blank in ("", "short-but-set"):
        get_settings.cache_clear()
        with environment.context() as scoped:
            scoped.setenv("MARQUEE_OPS_TOKEN", blank)
            if blank:
                with pytest.raises(MissingSettingError, match=r"MARQUEE_OPS_TOKEN: .*at least 16") as caught:
                    get_settings()
                assert blank not in str(caught.value)  # the message never echoes a secret
            else:
                assert get_settings().ops_token is None  # a blank variable is no token
    get_settings.cache_clear()
    environment.setenv("MARQUEE_OPS_TOKEN", "t" * 16)
    assert get_settings().ops_token == "t" * 16
    assert "t" * 16 not in repr(get_settings())
