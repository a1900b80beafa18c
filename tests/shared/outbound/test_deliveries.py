import json
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from ipaddress import ip_network

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from shared.envelope import envelope
from shared.outbound.deliveries import (
    Subscriber,
    classify,
    delivery_id,
    parse_subscribers,
    retry_delay,
    sign_delivery,
    webhook_body,
)
from shared.writers import new_secret
from tests.support.event_contract import violations

EVENT = envelope(
    "review.rejected",
    id="a" * 32,
    writer="alice",
    slug=None,
    revision=None,
    manifest_url=None,
    timestamp="2026-01-01T00:00:00.000Z",
    errors=[{"field": "rating", "message": "too high"}],
)


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, "delivered"),
        (204, "delivered"),
        (500, "retry"),
        (503, "retry"),
        (429, "retry"),
        (408, "retry"),
        (301, "give_up"),
        (302, "give_up"),
        (307, "give_up"),
        (400, "give_up"),
        (404, "give_up"),
        (410, "give_up"),
    ],
)
def test_responses_are_classified_as_a_sender_should(status, outcome):
    assert classify(status) == outcome


def test_backoff_grows_and_is_capped():
    assert 0.5 <= retry_delay(1, retry_after=None, cap=300) <= 2
    assert 8 <= retry_delay(5, retry_after=None, cap=300) <= 32
    assert retry_delay(20, retry_after=None, cap=60) <= 60


def test_retry_after_is_honoured_in_seconds_or_as_a_date_and_capped():
    assert retry_delay(1, retry_after="7", cap=300) == 7
    assert retry_delay(1, retry_after="9999", cap=60) == 60
    in_ten = format_datetime(datetime.now(UTC) + timedelta(seconds=10), usegmt=True)
    assert 8 <= retry_delay(1, retry_after=in_ten, cap=300) <= 10
    assert retry_delay(3, retry_after="soon", cap=300) <= 8  # unreadable: plain backoff


def test_a_delivery_id_is_stable_per_event_and_subscriber():
    assert delivery_id(EVENT, "site") == delivery_id(dict(EVENT, timestamp="later"), "site")
    assert delivery_id(EVENT, "site") != delivery_id(EVENT, "partner")
    assert delivery_id(EVENT, "site") != delivery_id(dict(EVENT, type="review.failed"), "site")
    revised = dict(EVENT, data=EVENT["data"] | {"revision": 2})
    assert delivery_id(revised, "site") != delivery_id(dict(EVENT, data=EVENT["data"] | {"revision": 3}), "site")


def test_the_body_is_the_envelope_and_verifies():
    secret = new_secret()
    body = webhook_body(EVENT)
    payload = json.loads(body)
    assert payload == EVENT  # the very envelope the stream holds: one parser for both
    assert payload["data"]["errors"] == [{"field": "rating", "message": "too high"}]
    assert violations(payload) == []
    headers = sign_delivery([secret], msg_id="msg_x", body=body, now=time.time())
    Webhook(secret).verify(body, headers)  # raises if the signature were wrong


def test_during_a_rotation_each_secret_signs_and_either_verifies_alone():
    old, new, stranger = new_secret(), new_secret(), new_secret()
    body = webhook_body(EVENT)
    headers = sign_delivery([old, new], msg_id="msg_x", body=body, now=time.time())
    assert [s.split(",")[0] for s in headers["webhook-signature"].split(" ")] == ["v1", "v1"]
    Webhook(old).verify(body, headers)
    Webhook(new).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(stranger).verify(body, headers)
    with pytest.raises(ValueError, match="at least one secret"):
        sign_delivery([], msg_id="msg_x", body=body)


def test_a_writers_callback_wants_only_that_writers_events():
    callback = Subscriber("writer:alice", "https://a.example", (new_secret(),), frozenset({"review.rejected"}), "alice")
    assert callback.wants(EVENT)
    assert not callback.wants(dict(EVENT, data=EVENT["data"] | {"writer": "bob"}))
    assert not callback.wants(dict(EVENT, type="review.failed"))


@pytest.mark.parametrize(
    "entry",
    [
        {"url": "ftp://x", "secret": new_secret(), "events": ["review.published"]},
        {"url": "https://x", "secret": "plain", "events": ["review.published"]},
        {"url": "https://x", "secrets": [], "events": ["review.published"]},
        {"url": "https://x", "secrets": "whsec_abc", "events": ["review.published"]},
        {"url": "https://x", "secret": new_secret(), "secrets": [new_secret()], "events": ["review.published"]},
        {"url": "https://x", "secret": new_secret(), "events": []},
        {"url": "http://169.254.169.254/latest/meta-data/", "secrets": [new_secret()], "events": ["review.published"]},
        {"url": "http://2130706433/", "secrets": [new_secret()], "events": ["review.published"]},
    ],
)
def test_bad_subscribers_are_refused_by_name(entry):
    with pytest.raises(ValueError, match="subscriber 'site'"):
        parse_subscribers({"subscribers": {"site": entry}})


def test_a_subscriber_has_a_list_of_secrets_and_the_first_shape_still_reads():
    old, new = new_secret(), new_secret()
    events = ["review.published"]
    rotating = parse_subscribers(
        {"subscribers": {"site": {"url": "https://x.example", "secrets": [old, new], "events": events}}}
    )
    assert rotating["site"].secrets == (old, new)
    first_shape = parse_subscribers(
        {"subscribers": {"site": {"url": "https://x.example", "secret": old, "events": events}}}
    )
    assert first_shape["site"].secrets == (old,)


def test_a_subscriber_url_is_refused_at_load_saying_where_it_leads_unless_its_range_is_allowed():
    entry = {"url": "http://10.1.2.3:8080/in", "secrets": [new_secret()], "events": ["review.published"]}
    with pytest.raises(ValueError, match=r"subscriber 'partner': url .* leads to 10\.1\.2\.3, a private address"):
        parse_subscribers({"subscribers": {"partner": entry}})
    allowed = parse_subscribers({"subscribers": {"partner": entry}}, allow=(ip_network("10.1.0.0/16"),))
    assert allowed["partner"].url == entry["url"]
