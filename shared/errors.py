"""Marquee's errors, in two families that the pipeline treats differently::

    MarqueeError
    ├── TransientError          retried with exponential backoff and jitter
    │   └── StorageUnavailable  a store (S3, disk) did not answer or answered 5xx
    ├── ContentError            reported to the writer, never retried
    │   ├── MalformedSubmission the request cannot be read (ingest answers 4xx)
    │   └── ReviewRejected      readable, but breaks a content rule (state: rejected)
    └── DestinationRefused      an outbound webhook's URL leads to an address Marquee does not
                                send to (shared/outbound/guard.py); the delivery fails, unretried

Both content errors carry ``problems``: one ``Problem(field, message)`` per field,
so a writer sees every fault at once rather than one per attempt.
Anything else raised in a task is a bug: the submission is marked failed with the
error, and an operator can replay it once the bug is fixed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Problem:
    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class MarqueeError(Exception):
    pass


class TransientError(MarqueeError):
    pass


class StorageUnavailable(TransientError):
    pass


class ObjectNotFound(MarqueeError, KeyError):
    """A key is absent from a store; whether that is an error is the caller's call."""

    def __str__(self) -> str:
        return f"no object at {self.args[0]!r}"


class ContentError(MarqueeError):
    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in self.problems))


class MalformedSubmission(ContentError):
    """``readable`` holds the fields that could be read (as ``ReviewSubmission`` reads them),
    so that what is wrong with them can be told in the same answer; None when the body as a
    whole could not be read (not UTF-8, not JSON, not an object), which ingest answers 400."""

    def __init__(self, problems: list[Problem], *, readable: dict[str, Any] | None = None):
        super().__init__(problems)
        self.readable = readable


class ReviewRejected(ContentError):
    pass


class DestinationRefused(MarqueeError):
    """An outbound URL resolves to an address outside the public internet (loopback, private,
    link-local, …) that no operator allowed. Retrying would not change it: the delivery fails."""
