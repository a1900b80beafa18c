"""The /ops pages' templates and access checks, without a server: what a writer controls
(their id, an error message quoting their input) is escaped, and tokens are checked."""

from __future__ import annotations

import base64
import time

from starlette.requests import Request
from starlette.responses import Response

from services.ingest import ops as ops_pages
from shared.operations import Failure, QueueStats, timeline

HOSTILE = '<script>alert("x")</script>'


def request(headers: dict[str, str]) -> Request:
    return Request(
        {
            "type": "http",
            "method": "GET",
            "path": "/ops",
            "root_path": "",
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        }
    )


def test_the_dashboard_escapes_everything_that_came_from_outside():
    history = [
        {"stage": "ingest", "state": "received", "at": "2026-01-01T00:00:00Z"},
        {"stage": HOSTILE, "state": HOSTILE, "at": "2026-01-01T00:00:02Z"},
    ]
    html = ops_pages.templates.get_template("ops.html").render(
        queues=[QueueStats("render", waiting=3, workers=0, oldest_age_seconds=75.0)],
        failures=[Failure("submission", "a" * 32, HOSTILE, "render", f"ValueError: {HOSTILE}", 2, time.time())],
        failed_total=1,
        submissions=[
            {
                "id": "b" * 32,
                "writer": HOSTILE,
                "state": "failed",
                "slug": HOSTILE,
                "timeline": timeline(history, state="failed"),
                "total_seconds": 2.0,
            }
        ],
        totals={"accepted": 1, "published": 0, "rejected": 0, "failed": 1},
        processed_5m=0,
        base="/ops",
        refresh=5,
        refresh_url="/ops",
        csrf="c" * 64,
        notice=HOSTILE,
        now="now",
    )
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert 'http-equiv="refresh" content="5; url=/ops"' in html
    assert 'name="csrf" value="' + "c" * 64 + '"' in html
    assert 'data-queue="render"' in html and "75.0 s" in html  # the oldest waiting message's age
    assert "s-other" in html  # an unknown stage gets a neutral colour, not a class of its own


def test_tokens_are_taken_as_bearer_or_as_the_basic_password(monkeypatch):
    token = "t" * 24
    monkeypatch.setattr(ops_pages, "get_settings", lambda: type("S", (), {"ops_token": token})())
    basic = base64.b64encode(f"anyone:{token}".encode()).decode()
    assert ops_pages.authorize(request({"authorization": f"Bearer {token}"})) == "bearer"
    assert ops_pages.authorize(request({"authorization": f"Basic {basic}"})) == "basic"
    for header in (
        "",
        f"Bearer {token}x",
        "Basic !!!",
        f"Token {token}",
        "Basic " + base64.b64encode(f"{token}:".encode()).decode(),
    ):
        refused = ops_pages.authorize(request({"authorization": header} if header else {}))
        assert isinstance(refused, Response)
        assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Basic realm=")
    assert ops_pages.csrf_token(token) != ops_pages.csrf_token("u" * 24) and len(ops_pages.csrf_token(token)) == 64


def test_without_a_token_every_request_is_refused_with_a_challenge(monkeypatch):
    monkeypatch.setattr(ops_pages, "get_settings", lambda: type("S", (), {"ops_token": None})())
    basic = base64.b64encode(b"anyone:").decode()
    for header in ("", "Bearer ", f"Basic {basic}", "Bearer " + "t" * 24):
        refused = ops_pages.authorize(request({"authorization": header} if header else {}))
        assert isinstance(refused, Response)
        assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Basic realm=")
        assert "no ops token" in bytes(refused.body).decode()  # says what the operator must do
