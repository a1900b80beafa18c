"""The operators' side of the ingest service: the /ops dashboard and Prometheus /metrics.

/ops shows each stage's queue and throughput, the latest submissions with where
their time went, and every failure with a Retry button. It is server-rendered
(Jinja2, autoescaped), needs no JavaScript (it refreshes itself with a meta
refresh) and loads nothing from elsewhere (a strict Content-Security-Policy).

Access takes the ops token (``MARQUEE_OPS_TOKEN``, 16 characters or more; shared/config.py
refuses a shorter one at start-up): ``Authorization: Bearer <token>``, or HTTP Basic with
the token as the password (any user name), which is what a browser asks for. Tokens are
compared in constant time.

Without a token set, /ops and /metrics refuse every request (401, with a
``WWW-Authenticate`` challenge and a body saying the server has no token): they are
never served open. Not even on a loopback address: "only this machine can reach it" stops
being true behind a reverse proxy on the same host, ``docker run -p``, or ``kubectl
port-forward``, and the process cannot tell. /metrics names every queue, writer-visible
counts and failure rates; /ops can replay work. ``marquee run`` (services/cli/supervisor.py)
therefore gives its stack a token, made once in ``var/ops-token`` (mode 0600) and never
printed, and Compose and the Kubernetes manifests refuse to start ingest without one.

A browser sends Basic credentials by itself, to any site's form that posts here, so
a POST authenticated that way must also carry the form's CSRF token (an HMAC of the
ops token, which another site cannot know) and must not come from another site
(``Sec-Fetch-Site``). A Bearer token is never sent by itself, so scripts need neither.

/metrics is this process's own metrics (HTTP requests, the process) and the
pipeline's, which every worker writes to Redis (shared/observability/metrics.py): the numbers
are the whole cluster's, whichever ingest process answers.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlencode

import redis
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from shared import operations as ops
from shared.config import OPS_TOKEN_MIN_LENGTH, get_settings
from shared.keys import is_submission_id
from shared.observability import logs
from shared.observability.metrics import totals
from shared.operations.collector import RedisCollector
from shared.queues import QUEUES, TASK_QUEUES
from shared.state import now_iso

log = logging.getLogger("marquee.ops")

DEFAULT_REFRESH_SECONDS = 5
REALM = 'Basic realm="Marquee ops", charset="UTF-8"'
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
STAGE_CLASSES = {*TASK_QUEUES, *QUEUES, "ingest", "retry", "reconcile", "social"}

templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _seconds(value: float | None) -> str:
    if value is None:
        return "–"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 120:
        return f"{value:.1f} s"
    if value < 7200:
        return f"{value / 60:.0f} min"
    return f"{value / 3600:.1f} h"


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return ""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


templates.filters["seconds"] = _seconds
templates.filters["when"] = _when
templates.filters["stage_class"] = lambda stage: stage if stage in STAGE_CLASSES else "other"

router = APIRouter(include_in_schema=False)


# --- access ----------------------------------------------------------------------------


def _token() -> str | None:
    return get_settings().ops_token


def csrf_token(token: str) -> str:
    return hmac.new(token.encode(), b"marquee-ops-csrf", hashlib.sha256).hexdigest()


def _presented(request: Request) -> tuple[str, str] | None:
    """(scheme, secret) from the Authorization header, or None."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    scheme, value = scheme.lower(), value.strip()
    if scheme == "bearer" and value:
        return "bearer", value
    if scheme == "basic" and value:
        try:
            _, _, password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return "basic", password
    return None


def _disabled(detail: str) -> Response:
    return HTMLResponse(
        templates.get_template("ops_disabled.html").render(detail=detail),
        status_code=503,
        headers=SECURITY_HEADERS,
    )


NEEDS_TOKEN = "The ops token is required: Authorization: Bearer <token>, or the token as the Basic password.\n"
NO_TOKEN = (
    "This server has no ops token, so /ops and /metrics refuse everyone. Set MARQUEE_OPS_TOKEN "
    f"({OPS_TOKEN_MIN_LENGTH}+ characters) and restart ingest; `marquee run` keeps one in var/ops-token.\n"
)


def _unauthorized(detail: str = NEEDS_TOKEN) -> Response:
    return Response(
        detail,
        status_code=401,
        media_type="text/plain",
        headers={"WWW-Authenticate": REALM, **SECURITY_HEADERS},
    )


def authorize(request: Request) -> Response | str:
    """The scheme the request authenticated with ("bearer" or "basic"), or the 401 refusing it.

    With no token configured every request is refused: there is nothing to compare with."""
    token = _token()
    if token is None:
        return _unauthorized(NO_TOKEN)
    presented = _presented(request)
    if presented is None or not hmac.compare_digest(presented[1].encode(), token.encode()):
        return _unauthorized()
    return presented[0]


# --- the pages -------------------------------------------------------------------------


def _client() -> redis.Redis:
    from shared.pipeline import get_runtime

    return get_runtime().states.redis


def overview(client: redis.Redis, *, now: float | None = None) -> dict:
    now = time.time() if now is None else now
    stats = ops.queue_stats(client, now=now)
    counted = totals(client)
    return {
        "queues": stats,
        "failures": ops.failures(client, limit=50),
        "failed_total": sum(source.count(client) for source in ops.FAILURE_SOURCES.values()),
        "submissions": ops.recent_submissions(client, limit=20, now=now),
        "totals": {
            "accepted": int(counted.get("marquee_submissions_accepted_total", 0)),
            "published": int(counted.get("marquee_submissions_published_total", 0)),
            "rejected": int(counted.get("marquee_submissions_rejected_total", 0)),
            "failed": int(counted.get("marquee_submissions_failed_total", 0)),
        },
        "processed_5m": sum(q.processed_5m for q in stats),
    }


def _base(request: Request) -> str:
    return request.scope.get("root_path", "").rstrip("/") + "/ops"


@router.get("/ops", name="ops_dashboard")
async def dashboard(request: Request) -> Response:
    auth = authorize(request)
    if isinstance(auth, Response):
        return auth
    try:
        refresh = max(0, min(int(request.query_params.get("refresh", DEFAULT_REFRESH_SECONDS)), 3600))
    except ValueError:
        refresh = DEFAULT_REFRESH_SECONDS
    try:
        data = await run_in_threadpool(overview, _client())
    except redis.RedisError as exc:
        return _disabled(f"Redis did not answer: {type(exc).__name__}. This page retries when reloaded.")
    base = _base(request)
    html = templates.get_template("ops.html").render(
        **data,
        base=base,
        refresh=refresh,
        csrf=csrf_token(_token() or ""),
        refresh_url=f"{base}?{urlencode({'refresh': refresh})}" if refresh != DEFAULT_REFRESH_SECONDS else base,
        notice=request.query_params.get("notice", "")[:300],
        now=now_iso(),
    )
    return HTMLResponse(html, headers=SECURITY_HEADERS)


@router.get("/ops/submissions/{submission_id}", name="ops_submission")
async def submission(submission_id: str, request: Request) -> Response:
    auth = authorize(request)
    if isinstance(auth, Response):
        return auth
    if not is_submission_id(submission_id):
        return HTMLResponse("No such submission.\n", status_code=404, headers=SECURITY_HEADERS)
    client = _client()
    record = await run_in_threadpool(_submission, client, submission_id)
    if record is None:
        return HTMLResponse("No such submission.\n", status_code=404, headers=SECURITY_HEADERS)
    html = templates.get_template("ops_submission.html").render(
        s=record, base=_base(request), csrf=csrf_token(_token() or ""), now=now_iso()
    )
    return HTMLResponse(html, headers=SECURITY_HEADERS)


def _submission(client: redis.Redis, id: str) -> dict | None:
    from shared.state import SubmissionStates

    record = SubmissionStates(client).get(id)
    if record is None:
        return None
    record["timeline"] = ops.timeline(record["history"], state=record["state"])
    record["total_seconds"] = sum(s["seconds"] for s in record["timeline"])
    return record


@router.post("/ops/retry", name="ops_retry")
async def retry(request: Request) -> Response:
    auth = authorize(request)
    if isinstance(auth, Response):
        return auth
    form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace"), max_num_fields=20).items()}
    if auth == "basic":
        # Sent by a browser: it must be our own form, from our own page.
        if request.headers.get("sec-fetch-site", "same-origin") not in (
            "same-origin",
            "none",
        ) or not hmac.compare_digest(form.get("csrf", "").encode(), csrf_token(_token() or "").encode()):
            return Response(
                "This form is stale or came from another site; reload /ops and try again.\n",
                status_code=403,
                media_type="text/plain",
                headers=SECURITY_HEADERS,
            )
    source = form.get("source", "submission")
    client = _client()
    if form.get("all"):
        ids = [f.id for f in await run_in_threadpool(ops.failures, client, limit=10_000, sources=[source])]
    else:
        ids = [form.get("id", "")]
    outcomes = [await run_in_threadpool(ops.retry, client, id, source=source) for id in ids if id]
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse([o.__dict__ | {"tasks": list(o.tasks)} for o in outcomes])
    done = [o for o in outcomes if o.retried]
    if len(outcomes) == 1:
        notice = f"{'Retried' if done else 'Not retried'} {outcomes[0].id[:12]}…: {outcomes[0].detail}"
    else:
        notice = f"Retried {len(done)} of {len(outcomes)}."
    return RedirectResponse(f"{_base(request)}?{urlencode({'notice': notice})}", status_code=303)


# --- /metrics --------------------------------------------------------------------------


def _metrics_registry():
    from prometheus_client import CollectorRegistry, Counter, Histogram
    from prometheus_client.gc_collector import GCCollector
    from prometheus_client.platform_collector import PlatformCollector
    from prometheus_client.process_collector import ProcessCollector

    registry = CollectorRegistry(auto_describe=False)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    requests = Counter(
        "marquee_http_requests_total",
        "HTTP requests to this ingest process, by route and status.",
        ["method", "route", "status"],
        registry=registry,
    )
    durations = Histogram(
        "marquee_http_request_duration_seconds",
        "Time this ingest process took to answer, by route.",
        ["method", "route"],
        registry=registry,
        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    )
    return registry, requests, durations


class _Observe:
    """ASGI middleware: counts and times each request, and tells the ``received`` log
    line when its request arrived."""

    def __init__(self, app, *, requests, durations):
        self.app, self.requests, self.durations = app, requests, durations

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        token = logs.request_started.set(started)
        status = 500

        async def send_status(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            logs.request_started.reset(token)
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.requests.labels(scope["method"], route, str(status)).inc()
            self.durations.labels(scope["method"], route).observe(time.monotonic() - started)


@router.get("/metrics", name="metrics")
def metrics(request: Request) -> Response:
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    auth = authorize(request)
    if isinstance(auth, Response):
        return auth
    return Response(generate_latest(request.app.state.ops_registry), media_type=CONTENT_TYPE_LATEST)


def install(app: FastAPI) -> None:
    """Add /ops and /metrics to the ingest app."""
    if _token() is None:
        log.warning("MARQUEE_OPS_TOKEN is not set: /ops and /metrics refuse every request until it is")
    registry, requests, durations = _metrics_registry()
    registry.register(RedisCollector(_client()))
    app.state.ops_registry = registry
    app.include_router(router)
    app.add_middleware(_Observe, requests=requests, durations=durations)
