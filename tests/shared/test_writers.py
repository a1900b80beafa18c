import json
import time

import pytest

from shared.writers import Writer, WritersFile, new_secret, parse_writers, sign, verify_signature

BODY = b'{"title": "x"}'


@pytest.fixture
def writer():
    return Writer("alice", (new_secret(), new_secret()))


def headers_for(secret, *, body=BODY, timestamp=None, msg_id="msg_1"):
    return sign(secret, msg_id=msg_id, timestamp=timestamp or int(time.time()), body=body)


def test_any_of_a_writers_secrets_verifies(writer):
    for secret in writer.secrets:
        assert verify_signature(writer, BODY, headers_for(secret))


def test_a_wrong_secret_a_changed_body_or_id_fails(writer):
    assert not verify_signature(writer, BODY, headers_for(new_secret()))
    assert not verify_signature(writer, BODY + b" ", headers_for(writer.secrets[0]))
    headers = headers_for(writer.secrets[0]) | {"webhook-id": "msg_2"}
    assert not verify_signature(writer, BODY, headers)


@pytest.mark.parametrize("offset", [-301, 301])
def test_a_timestamp_more_than_five_minutes_off_fails(writer, offset):
    assert not verify_signature(writer, BODY, headers_for(writer.secrets[0], timestamp=int(time.time()) + offset))


def test_an_unknown_writer_fails_even_with_a_real_signature(writer):
    assert not verify_signature(None, BODY, headers_for(writer.secrets[0]))


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"webhook-id": "a", "webhook-timestamp": "now", "webhook-signature": "v1,abc"},
        {"webhook-id": "a", "webhook-timestamp": str(int(time.time())), "webhook-signature": "garbage"},
        {"webhook-id": "a", "webhook-timestamp": str(int(time.time())), "webhook-signature": "v1,!!!notbase64"},
    ],
)
def test_malformed_headers_fail_without_raising(writer, headers):
    assert not verify_signature(writer, BODY, headers)


def test_the_writers_file_is_checked_and_reread_when_it_changes(tmp_path):
    path = tmp_path / "writers.json"
    path.write_text(json.dumps({"writers": {"alice": {"secrets": [new_secret()]}}}))
    writers = WritersFile(path)
    assert writers.get("alice") and writers.get("bob") is None
    path.write_text(json.dumps({"writers": {"bob": {"secrets": [new_secret()]}}}))
    later = time.time() + 5
    import os

    os.utime(path, (later, later))
    assert writers.get("bob") and writers.get("alice") is None


@pytest.mark.parametrize(
    "data",
    [
        {"writers": {"Alice!": {"secrets": [new_secret()]}}},
        {"writers": {"alice": {"secrets": []}}},
        {"writers": {"alice": {"secrets": ["plain-password"]}}},
    ],
)
def test_a_bad_writers_file_is_refused_with_the_writer_named(data):
    with pytest.raises(ValueError, match="writer"):
        parse_writers(data)


def test_callbacks_have_secrets_of_their_own_apart_from_the_submitting_ones():
    inbound, outbound_old, outbound_new = new_secret(), new_secret(), new_secret()
    entry = {"secrets": [inbound], "callback_url": "https://cms.example/hooks", "callback_secrets": [outbound_old]}
    writer = parse_writers({"writers": {"alice": entry}})["alice"]
    assert writer.secrets == (inbound,) and writer.callback_secrets == (outbound_old,)
    rotating = parse_writers({"writers": {"alice": entry | {"callback_secrets": [outbound_old, outbound_new]}}})
    assert rotating["alice"].callback_secrets == (outbound_old, outbound_new)
    # The callback secrets never verify a submission.
    assert not verify_signature(writer, BODY, headers_for(outbound_old))
    assert verify_signature(writer, BODY, headers_for(inbound))


def test_an_entry_from_before_callback_secrets_still_submits():
    secret = new_secret()
    old = {"writers": {"alice": {"secrets": [secret], "callback_url": "https://cms.example/hooks"}}}
    writer = parse_writers(old)["alice"]
    assert writer.callback_secrets == () and verify_signature(writer, BODY, headers_for(secret))


@pytest.mark.parametrize(
    ("callback_secrets", "problem"),
    [
        ("whsec_abc", "must be a list"),
        (["plain-password"], "each starting whsec_"),
        ("same as inbound", "must not also be in secrets"),
    ],
)
def test_bad_callback_secrets_are_refused_naming_the_writer(callback_secrets, problem):
    inbound = new_secret()
    if callback_secrets == "same as inbound":
        callback_secrets = [inbound]
    data = {"writers": {"alice": {"secrets": [inbound], "callback_secrets": callback_secrets}}}
    with pytest.raises(ValueError, match=f"writer 'alice': .*{problem}"):
        parse_writers(data)


def test_a_writer_may_require_signed_titles_and_the_setting_is_checked():
    secret = new_secret()
    writers = parse_writers(
        {"writers": {"strict": {"secrets": [secret], "require_signed_title": True}, "easy": {"secrets": [secret]}}}
    )
    assert writers["strict"].require_signed_title and not writers["easy"].require_signed_title
    with pytest.raises(ValueError, match="require_signed_title must be true or false"):
        parse_writers({"writers": {"strict": {"secrets": [secret], "require_signed_title": "yes"}}})
