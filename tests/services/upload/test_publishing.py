from datetime import UTC, datetime

import pytest

from services.upload.publishing import build_manifest, describe_asset, needs_upload
from shared.models import Review
from shared.storage import ObjectInfo, sha256_hex


def test_identical_content_is_not_uploaded_again():
    new = ObjectInfo.of(b"<html></html>")
    assert needs_upload(new, None)
    assert not needs_upload(new, ObjectInfo(size=new.size, sha256=sha256_hex(b"<html></html>")))
    assert needs_upload(new, ObjectInfo(size=new.size, sha256=sha256_hex(b"<html> </html>")))
    assert needs_upload(new, ObjectInfo(size=new.size, sha256=None))  # unknown: send it
    assert needs_upload(ObjectInfo(size=new.size, sha256=None), ObjectInfo.of(b"<html></html>"))


def test_the_manifest_lists_each_asset_with_its_hash_and_url():
    review = Review(
        id="a" * 32,
        writer="w",
        slug="her-2013",
        revision=2,
        title="Her",
        year=2013,
        certificate="15",
        runtime_minutes=126,
        directors=["D"],
        cast=[],
        rating=3,
        paragraphs=["p"],
        author="A",
        note=None,
        date_published=datetime(2026, 1, 1, tzinfo=UTC),
    )
    assets = [
        describe_asset(n, ObjectInfo.of(n.encode()), slug="her-2013", revision=2, base_url="https://cdn.example/")
        for n in ("review.json", "index.html")
    ]
    manifest = build_manifest(review, assets)
    assert manifest.revision == 2 and [a.key for a in manifest.assets] == [
        "reviews/her-2013/r/2/index.html",
        "reviews/her-2013/r/2/review.json",
    ]
    page = manifest.assets[0]
    assert page.sha256 == sha256_hex(b"index.html") and page.bytes == len(b"index.html")
    assert page.content_type == "text/html; charset=utf-8"
    assert page.url == "https://cdn.example/reviews/her-2013/r/2/index.html"  # the revision's own, for good
    with pytest.raises(ValueError):
        build_manifest(
            review, [describe_asset("manifest.json", ObjectInfo.of(b"{}"), slug="her-2013", revision=2, base_url="x")]
        )
    with pytest.raises(ValueError, match=r"hash of index\.html"):  # a manifest never lists an unknown hash
        describe_asset("index.html", ObjectInfo(size=3, sha256=None), slug="her-2013", revision=2, base_url="x")
