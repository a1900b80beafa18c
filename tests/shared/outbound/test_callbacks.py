"""Writers' callbacks, read from the writers file as the workers read it: signed with the
writer's callback secrets, never the inbound ones, and checked for where they lead."""

from __future__ import annotations

import logging
from ipaddress import ip_network

import pytest

from shared.outbound.events import parse_callbacks
from shared.writers import new_secret


def writers(**entries: dict) -> dict:
    return {"writers": entries}


def test_a_callback_is_a_subscriber_to_the_writers_own_events_with_the_callback_secrets():
    inbound, outbound = new_secret(), new_secret()
    callbacks = parse_callbacks(
        writers(
            carol={"secrets": [inbound], "callback_url": "https://cms.example/in", "callback_secrets": [outbound]},
            dan={"secrets": [new_secret()]},  # no callback_url: no callback
        )
    )
    assert list(callbacks) == ["writer:carol"]
    carol = callbacks["writer:carol"]
    assert carol.secrets == (outbound,) and inbound not in carol.secrets
    assert carol.writer == "carol" and carol.url == "https://cms.example/in"


def test_a_callback_without_callback_secrets_is_kept_unsigned_and_the_loader_says_why(caplog):
    with caplog.at_level(logging.WARNING, logger="marquee.config"):
        callbacks = parse_callbacks(
            writers(carol={"secrets": [new_secret()], "callback_url": "https://cms.example/in"})
        )
    assert callbacks["writer:carol"].secrets == ()  # deliver refuses it, recording why
    assert "'carol' has a callback_url but no callback_secrets" in caplog.text


def test_a_callback_url_that_leads_to_a_refused_address_refuses_the_file_naming_the_writer():
    entry = {
        "secrets": [new_secret()],
        "callback_url": "http://[::ffff:169.254.169.254]/",
        "callback_secrets": [new_secret()],
    }
    with pytest.raises(ValueError, match=r"writer 'carol': callback_url .* link-local address"):
        parse_callbacks(writers(carol=entry))
    allowed = parse_callbacks(writers(carol=entry), allow=(ip_network("169.254.0.0/16"),))
    assert "writer:carol" in allowed
