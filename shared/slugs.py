"""Slugs: the only part of a public key that comes from what a writer sent.

A review's slug is its film's title and year (``amelie-2001``), claimed in Redis by its
owner, one writer's review of one film (shared/state.py ``place_slug``). When another
owner holds it, the review gets a *variant*: the slug with a random suffix
(``amelie-2001-k3x9q2``), claimed for the owner and remembered with the slug, so the same
writer's later submissions of the film land on it again. Random rather than derived from
the owner: a suffix anyone can compute from writer, title and year is one another writer
can claim first, with a review titled ``Amélie 2001 k3x9q2``, and so sit where that
review's pages will be written. 36^6 suffixes, drawn after the natural slug is found
taken, cannot be claimed ahead.
"""

from __future__ import annotations

import re
import secrets
import string

from slugify import slugify

_SAFE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
MAX_LENGTH = 80
SUFFIX_LENGTH = 6
_SUFFIX_ALPHABET = string.ascii_lowercase + string.digits


def make_slug(title: str, year: int | None) -> str:
    """``Amélie`` (2001) → ``amelie-2001``; a title with no letters or digits → ``review``."""
    base = slugify(title, max_length=MAX_LENGTH - 5, word_boundary=True, lowercase=True) or "review"
    return f"{base}-{year}" if year else base


def slug_owner(writer: str, title: str, year: int | None) -> str:
    """Who a slug belongs to: one writer's review of one film. Kept in Redis with the slug,
    and made again from an archived review when Redis has lost it."""
    return f"{writer}\n{title.casefold()}\n{year or ''}"


def slug_writer(owner: str) -> str:
    """The writer part of ``slug_owner``'s value."""
    return owner.split("\n", 1)[0]


def variant(slug: str) -> str:
    """``slug`` with a fresh random suffix: a slug of its own for another owner of the same film."""
    return f"{slug}-{''.join(secrets.choice(_SUFFIX_ALPHABET) for _ in range(SUFFIX_LENGTH))}"


def is_variant_of(slug: str, base: str) -> bool:
    """Whether ``slug`` is ``base`` with a suffix ``variant`` could have drawn."""
    suffix = slug.removeprefix(base + "-")
    return suffix != slug and len(suffix) == SUFFIX_LENGTH and all(c in _SUFFIX_ALPHABET for c in suffix)


def is_safe_slug(slug: str) -> bool:
    return len(slug) <= MAX_LENGTH + 1 + SUFFIX_LENGTH and bool(_SAFE.match(slug))
