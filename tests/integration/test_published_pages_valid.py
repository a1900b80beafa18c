"""What the running pipeline publishes, with real timestamps (microseconds and all), passes
the Nu HTML Checker: the article, a revision's article (with its "Updated" time), the index.

A corpus of pages built with tidy, hand-picked dates once hid that every real page carried a
``<time datetime>`` with six digits of a second, which HTML does not allow."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from tests.conftest import fixture_bytes
from tests.support.nu_checker import nu_check

pytestmark = pytest.mark.integration


def publish(stack, body: bytes) -> dict:
    response = stack.submit(body)
    assert response.status_code == 202, response.text
    record = stack.wait_for(response.json()["id"])
    assert record["state"] == "published", record["errors"]
    return record


def test_pages_the_pipeline_publishes_pass_the_nu_checker(local_stack, tmp_path):
    title = f"Nu Checked {uuid.uuid4().hex[:6]}"
    first = json.loads(fixture_bytes("glasshouse.json")) | {"title": title}
    publish(local_stack, json.dumps(first).encode())
    revised = publish(local_stack, json.dumps(first | {"note": "Revised after a second viewing."}).encode())

    pages = {
        "article.html": httpx.get(revised["urls"]["article"], timeout=10),
        "index.html": httpx.get(f"{local_stack.url}/site/index.html", timeout=10),
    }
    for name, response in pages.items():
        assert response.status_code == 200, name
        (tmp_path / name).write_text(response.text)
    article = pages["article.html"].text
    assert "Updated <time" in article  # the revision's time is on the page, and checked

    report = nu_check(tmp_path.glob("*.html"), root=tmp_path)
    assert not report, "\n".join(report)
