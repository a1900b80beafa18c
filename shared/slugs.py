"""Slugs: the only part of a public key that comes from what a writer sent."""

from __future__ import annotations

import hashlib
import re

from slugify import slugify

_SAFE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
MAX_LENGTH = 80


def make_slug(title: str, year: int | None) -> str:
    """``Amélie`` (2001) → ``amelie-2001``; a title with no letters or digits → ``review``."""
    base = slugify(title, max_length=MAX_LENGTH - 5, word_boundary=True, lowercase=True) or "review"
    return f"{base}-{year}" if year else base


def slug_owner(writer: str, title: str, year: int | None) -> str:
    """Who a slug belongs to: one writer's review of one film. Kept in Redis with the slug,
    and made again from an archived review when Redis has lost it."""
    return f"{writer}\n{title.casefold()}\n{year or ''}"


def disambiguate(slug: str, *, owner: str) -> str:
    """A stable variant of ``slug`` for another owner of the same film title."""
    return f"{slug}-{hashlib.sha256(owner.encode()).hexdigest()[:6]}"


def is_safe_slug(slug: str) -> bool:
    return len(slug) <= MAX_LENGTH + 7 and bool(_SAFE.match(slug))
