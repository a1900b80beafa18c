"""The ingest app as ``marquee ingest`` serves it, plus a bare hello endpoint for comparison.

``uvicorn tests.bench.ingest_app:create --factory``: the same FastAPI app, middleware
and server, one process, so the difference between ``/bench/hello`` and a submission is
what accepting a submission costs.
"""

from __future__ import annotations

from fastapi import FastAPI

from services.ingest.app import create_app


def create() -> FastAPI:
    app = create_app()

    @app.get("/bench/hello")
    async def hello() -> dict[str, str]:
        return {"hello": "world"}

    return app
