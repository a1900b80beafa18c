"""The data that moves through the pipeline.

``ReviewSubmission`` is what a writer sent, read but not yet judged: the shape is
checked (types, required fields) and nothing more. ``Review`` is what the validate
stage makes of it once every content rule holds; later stages read only ``Review``.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictFloat,
    StrictInt,
    StrictStr,
    field_validator,
    model_validator,
)

# Where a review's title came from: its signed body, or the ?title= query parameter of a
# text review, which no signature covers (docs/SECURITY.md).
TitleSource = Literal["body", "query"]

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def drop_control_characters(value: Any) -> Any:
    """Control characters (but for line breaks and tabs) are nobody's text: a title of
    ESC alone would pass as non-empty and show as nothing."""
    if isinstance(value, str):
        return _CONTROL.sub("", value)
    if isinstance(value, list):
        return [drop_control_characters(item) for item in value]
    return value


class ReviewSubmission(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_control_characters(cls, value: Any) -> Any:
        return drop_control_characters(value)

    title: StrictStr
    year: StrictInt | None = None
    certificate: StrictStr
    runtime_minutes: StrictInt
    directors: list[StrictStr]
    cast: list[StrictStr] = Field(default_factory=list)
    rating: StrictInt | StrictFloat
    body: StrictStr
    author: StrictStr
    note: StrictStr | None = None
    publish_at: datetime | None = None
    replaces: StrictStr | None = None  # the id of an earlier submission this one revises

    # Set by the parser, never by the sender: a private attribute is no field of the body.
    _title_source: TitleSource = PrivateAttr(default="body")

    @property
    def title_source(self) -> TitleSource:
        return self._title_source


class Review(BaseModel):
    """A review that passed validation: normalised text, ready to render."""

    id: str
    writer: str
    slug: str
    revision: int
    title: str
    year: int | None
    certificate: str
    runtime_minutes: int
    directors: list[str]
    cast: list[str]
    rating: float
    paragraphs: list[str]
    author: str
    note: str | None
    date_published: datetime
    date_modified: datetime | None = None  # a revision's date; the first revision's is date_published
    publish_at: datetime | None = None  # an embargo: nothing is public before this time
    # None only for a review validated before Marquee recorded where titles came from.
    title_source: TitleSource | None = None

    @model_validator(mode="after")
    def _first_revision_is_unmodified(self) -> Review:
        if self.date_modified is None:
            self.date_modified = self.date_published
        return self


class State(StrEnum):
    RECEIVED = "received"
    VALIDATED = "validated"
    RENDERED = "rendered"
    SOCIAL_READY = "social_ready"
    SCHEDULED = "scheduled"
    UPLOADED = "uploaded"
    PUBLISHED = "published"
    REJECTED = "rejected"
    FAILED = "failed"
    SUPERSEDED = "superseded"  # never published: a later revision was already live when it came to upload
    RETRACTED = "retracted"

    @property
    def is_final(self) -> bool:
        return self in (State.PUBLISHED, State.REJECTED, State.FAILED, State.SUPERSEDED, State.RETRACTED)


class Asset(BaseModel):
    key: str
    sha256: str
    bytes: int
    content_type: str
    url: str


class Manifest(BaseModel):
    id: str
    slug: str
    revision: int
    published_at: datetime
    assets: list[Asset]
