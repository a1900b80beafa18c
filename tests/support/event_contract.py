"""The events' contract as consumers get it: the JSON Schemas published in docs/schemas/.

Events are checked here more strictly than a consumer would: besides the schema, no field
may appear that the schema does not describe. So code that adds a field without
documenting it fails as surely as code that drops or retypes one. (The published schemas
stay open, because consumers are told to ignore fields they do not know.)

Published files with a contract of their own (``review.json``) have their schemas in
docs/schemas/published/, apart from the events', and are held to them the same way.
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

import redis
from jsonschema import Draft202012Validator

from shared.envelope import EVENT_TYPES, STREAM_FIELD
from shared.state import EVENTS_STREAM
from tests.support.processes import read_stream

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas"


def _closed(schema: Any) -> Any:
    """``schema`` with every object that lists its properties closed to any other."""
    if isinstance(schema, list):
        return [_closed(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    closed = {key: _closed(value) for key, value in schema.items()}
    if "properties" in closed:
        closed.setdefault("additionalProperties", False)
    return closed


@functools.cache
def validators() -> dict[str, Draft202012Validator]:
    """One strict validator per event type, from docs/schemas/<type>.json."""
    found = {}
    for path in sorted(SCHEMAS.glob("*.json")):
        schema = json.loads(path.read_text())
        Draft202012Validator.check_schema(schema)  # a schema that is not draft 2020-12 fails here
        type_ = schema["properties"]["type"]["const"]
        assert path.name == f"{type_}.json", f"{path.name} describes {type_}"
        found[type_] = Draft202012Validator(
            _closed(copy.deepcopy(schema)), format_checker=Draft202012Validator.FORMAT_CHECKER
        )
    assert set(found) == EVENT_TYPES, f"schemas for {sorted(found)}, events {sorted(EVENT_TYPES)}"
    return found


PUBLISHED_SCHEMAS = SCHEMAS / "published"


@functools.cache
def published_validator(name: str) -> Draft202012Validator:
    """The strict validator of a published file, from docs/schemas/published/<name>."""
    schema = json.loads((PUBLISHED_SCHEMAS / name).read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(_closed(schema), format_checker=Draft202012Validator.FORMAT_CHECKER)


def published_violations(name: str, document: Any) -> list[str]:
    """What is wrong with a published file (``review.json``) against its schema; empty if nothing."""
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '(document)'}: {error.message}"
        for error in published_validator(name).iter_errors(document)
    ]


def violations(event: Any) -> list[str]:
    """What is wrong with ``event`` against its type's schema; empty if nothing."""
    type_ = event.get("type") if isinstance(event, dict) else None
    if type_ not in validators():
        return [f"no schema for an event of type {type_!r}"]
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '(envelope)'}: {error.message}"
        for error in validators()[type_].iter_errors(event)
    ]


def entry_violations(fields: dict[str, str]) -> list[str]:
    """What is wrong with one ``marquee:events`` entry: its envelope, and the plain fields beside it."""
    if set(fields) != {"type", "id", STREAM_FIELD}:
        return [f"entry fields are {sorted(fields)}, not type, id and {STREAM_FIELD}"]
    try:
        event = json.loads(fields[STREAM_FIELD])
    except ValueError as exc:
        return [f"{STREAM_FIELD} is not JSON: {exc}"]
    found = violations(event)
    if not found and (fields["type"], fields["id"]) != (event["type"], event["data"]["id"]):
        found.append("the entry's type and id are not its envelope's")
    return found


class EmittedEvents:
    """Collects what is wrong with every event checked, for one verdict at the end."""

    def __init__(self) -> None:
        self.checked = 0
        self.problems: list[str] = []

    def check_stream(self, client: redis.Redis, *, where: str) -> None:
        """Every entry of the stream ``client`` holds; nothing if that Redis is gone already."""
        try:
            entries = read_stream(client, EVENTS_STREAM)
        except redis.ConnectionError:
            return
        for entry_id, fields in entries:
            self.checked += 1
            self.problems += [f"{where} {entry_id} {fields.get('type')}: {p}" for p in entry_violations(fields)]
