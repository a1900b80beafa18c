"""Error answers as RFC 9457 problem details (``application/problem+json``)."""

from __future__ import annotations

from fastapi.responses import JSONResponse

from shared.errors import Problem

PROBLEM_TYPE = "https://marquee.example/problems/"


def problem(
    status: int, slug: str, title: str, detail: str, *, errors: list[Problem] | None = None, headers=None
) -> JSONResponse:
    body = {"type": PROBLEM_TYPE + slug, "title": title, "status": status, "detail": detail}
    if errors is not None:
        body["errors"] = [p.as_dict() for p in errors]
    return JSONResponse(body, status_code=status, media_type="application/problem+json", headers=headers)


def unauthorized() -> JSONResponse:
    # One answer for an unknown writer, a bad signature and a stale timestamp alike.
    return problem(
        401,
        "unauthorized",
        "Unauthorized",
        "The request could not be authenticated. Sign it per Standard Webhooks with a current timestamp.",
    )
