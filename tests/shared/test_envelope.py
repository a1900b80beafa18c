"""The events' envelope against the schemas published in docs/schemas/, and the check that
holds every emitted event to them: it must fail when code and schema drift apart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.envelope import EVENT_TYPES, SCHEMA_VERSION, STREAM_FIELD, dumps, envelope, revision_manifest_url
from tests.support.event_contract import entry_violations, validators, violations

DOCS = Path(__file__).resolve().parents[2] / "docs"
BASE = "https://reviews.example/site"
ID = "3ae2bc2bd0c281b2c529ba4bbbaa1750"


def published() -> dict:
    return envelope(
        "review.published",
        id=ID,
        writer="dev",
        slug="paper-lanterns-2026",
        revision=2,
        manifest_url=revision_manifest_url(BASE, "paper-lanterns-2026", 2),
        timestamp="2026-11-25T02:45:44.367Z",
        article_url=f"{BASE}/reviews/paper-lanterns-2026/index.html",
    )


def test_every_event_type_has_a_draft_2020_12_schema_linked_from_the_consumers_guide():
    assert set(validators()) == EVENT_TYPES  # each parsed and checked as draft 2020-12
    guide = (DOCS / "CONSUMERS.md").read_text()
    for type_ in EVENT_TYPES:
        assert f"(schemas/{type_}.json)" in guide, type_


def test_the_envelope_names_the_revisions_own_manifest():
    event = published()
    assert event["schema_version"] == SCHEMA_VERSION == 1
    assert event["data"]["manifest_url"] == f"{BASE}/reviews/paper-lanterns-2026/r/2/manifest.json"
    assert violations(event) == []
    assert json.loads(dumps(event)) == event


def test_an_unknown_type_is_refused_when_built():
    with pytest.raises(ValueError, match="not an event type"):
        envelope("review.liked", id=ID, writer="dev", slug=None, revision=None, manifest_url=None, timestamp="")


def drifted(change) -> dict:
    event = published()
    change(event)
    return event


@pytest.mark.parametrize(
    ("what", "change"),
    [
        ("an undocumented field", lambda e: e["data"].update(score=4)),
        ("an undocumented envelope field", lambda e: e.update(at=e["timestamp"])),
        ("a field dropped", lambda e: e["data"].pop("revision")),
        ("a field retyped", lambda e: e["data"].update(revision="2")),
        ("the stable manifest", lambda e: e["data"].update(manifest_url=f"{BASE}/reviews/x/manifest.json")),
        ("another schema version", lambda e: e.update(schema_version=2)),
        ("a time that is not one", lambda e: e.update(timestamp="yesterday")),
        ("an unknown type", lambda e: e.update(type="review.liked")),
    ],
)
def test_the_check_fails_when_an_event_drifts_from_its_schema(what, change):
    assert violations(drifted(change)), what


def test_errors_are_an_array_of_field_and_message_never_a_json_string():
    def rejected(errors) -> dict:
        return envelope(
            "review.rejected",
            id=ID,
            writer="dev",
            slug=None,
            revision=None,
            manifest_url=None,
            timestamp="2026-11-25T02:45:44.367Z",
            errors=errors,
        )

    problems = [{"field": "rating", "message": "7 is not a rating"}]
    assert violations(rejected(problems)) == []
    assert violations(rejected(json.dumps(problems)))  # the stream's old shape
    assert violations(rejected([{"message": "7 is not a rating"}]))


def test_a_stream_entry_is_type_id_and_the_envelope():
    event = published()
    entry = {"type": "review.published", "id": ID, STREAM_FIELD: dumps(event)}
    assert entry_violations(entry) == []
    assert entry_violations(entry | {"id": "0" * 32})  # the plain fields must be the envelope's
    assert entry_violations(entry | {"writer": "dev"})  # and nothing else beside it
    assert entry_violations({"type": "review.published", "id": ID, STREAM_FIELD: "{"})
