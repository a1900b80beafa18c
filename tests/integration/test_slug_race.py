"""Slugs cannot be taken: one writer cannot claim, ahead of time, the slug another writer's
review of the same film will get, and so sit where that review's pages are written.

Through the real stack: ingest, the validate worker's claims in Redis, upload's pages."""

from __future__ import annotations

import hashlib
import json
import uuid

import httpx
import pytest

from shared.slugs import is_variant_of, make_slug, slug_owner
from tests.conftest import fixture_bytes
from tests.support.processes import Stack

pytestmark = pytest.mark.integration


def review(title: str, year: int | None, *, author: str, note: str = "First seen.") -> bytes:
    fields = {"title": title, "year": year, "author": author, "note": note}
    return json.dumps(json.loads(fixture_bytes("glasshouse.json")) | fields).encode()


def published(stack: Stack, body: bytes, *, writer: str = "alice") -> dict:
    secret = stack.secret if writer == "alice" else stack.other_secret
    record = stack.wait_for(stack.submit(body, writer=writer, secret=secret).json()["id"])
    assert record["state"] == "published", record
    return record


def live(stack: Stack, slug: str) -> tuple[str, str]:
    """Who the slug's live pages are: the manifest's submission id, and the article's text."""
    base = stack.env["MARQUEE_PUBLIC_BASE_URL"]
    manifest = httpx.get(f"{base}/reviews/{slug}/manifest.json", timeout=10).json()
    article = httpx.get(f"{base}/reviews/{slug}/index.html", timeout=10).text
    return manifest["id"], article


def test_a_writer_cannot_claim_the_slug_another_writers_review_will_get(local_stack):
    stack = local_stack
    run = uuid.uuid4().hex[:6]
    title, year = f"Squat {run}", 2021
    base = make_slug(title, year)

    # Bob reviews the film first: its natural slug is his.
    bobs = published(stack, review(title, year, author="Bob Natural"), writer="bob")
    assert bobs["slug"] == base
    # Then he takes the slug Alice's review would be given were it worked out from writer,
    # title and year, as it was: a review whose title makes exactly that slug.
    predicted = f"{base}-{hashlib.sha256(slug_owner('alice', title, year).encode()).hexdigest()[:6]}"
    squat = published(stack, review(predicted.replace("-", " "), None, author="Bob Squatter"), writer="bob")
    assert squat["slug"] == predicted

    # Alice's review of the film: published under a slug of her own, which she holds.
    alices = published(stack, review(title, year, author="Alice Own"))
    slug = alices["slug"]
    assert slug not in (base, predicted) and is_variant_of(slug, base)
    assert stack.redis.hget(f"marquee:slug:{slug}", "owner") == slug_owner("alice", title, year)
    assert live(stack, slug)[0] == alices["id"] and "Alice Own" in live(stack, slug)[1]
    assert live(stack, predicted)[0] == squat["id"]  # and Bob's pages were not written over either

    # Bob revises both his reviews: each lands on his own slug, and Alice's pages stay hers.
    bob_again = published(stack, review(title, year, author="Bob Natural", note="Revised."), writer="bob")
    squat_again = published(
        stack, review(predicted.replace("-", " "), None, author="Bob Squatter", note="Revised."), writer="bob"
    )
    assert (bob_again["slug"], squat_again["slug"]) == (base, predicted)
    assert live(stack, slug)[0] == alices["id"] and "Bob" not in live(stack, slug)[1]

    # Alice revises hers: the same slug again, as its next revision.
    again = published(stack, review(title, year, author="Alice Own", note="Revised."))
    assert again["slug"] == slug and live(stack, slug)[0] == again["id"]
    base_url = stack.env["MARQUEE_PUBLIC_BASE_URL"]
    assert httpx.get(f"{base_url}/reviews/{slug}/manifest.json", timeout=10).json()["revision"] == 2


def test_a_revision_never_lands_on_a_slug_another_writer_holds(local_stack):
    """A submission that was handed another's slug before every claim was checked (made here
    by hand in Redis) cannot be revised onto it: rejected, and the holder's pages stay."""
    stack = local_stack
    run = uuid.uuid4().hex[:6]
    alices = published(stack, review(f"Held {run}", 2020, author="Alice Holder"))
    bobs = published(stack, review(f"Other {run}", 2020, author="Bob Other"), writer="bob")
    stack.redis.hset(f"marquee:sub:{bobs['id']}", "slug", alices["slug"])  # as the unchecked claim left it

    body = json.loads(review(f"Held {run}", 2020, author="Bob Other")) | {"replaces": bobs["id"]}
    record = stack.wait_for(
        stack.submit(json.dumps(body).encode(), writer="bob", secret=stack.other_secret).json()["id"]
    )
    assert record["state"] == "rejected"
    assert [e["field"] for e in record["errors"]] == ["replaces"] and "another writer" in record["errors"][0]["message"]
    assert live(stack, alices["slug"])[0] == alices["id"]
