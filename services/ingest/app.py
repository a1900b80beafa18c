"""The ingest service: signed submissions in, 202 and a status URL out.

A submission is answered 202 only once its raw request is stored in the archive and
its first stage is queued; until then nothing is promised. Malformed input is
answered at once with a problem body naming each field; a readable review that
breaks a content rule is accepted and rejected by the validate stage.
"""

from __future__ import annotations

import contextlib
import gc
import json
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from kombu.exceptions import OperationalError
from limits.errors import StorageError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.ingest import openapi
from services.ingest.acceptor import Acceptor, Submission
from services.ingest.ops import install as install_ops
from services.ingest.problems import problem, unauthorized
from services.ingest.ratelimit import RateLimiter
from shared.config import get_settings
from shared.content_rules import every_problem
from shared.errors import MalformedSubmission, ObjectNotFound, Problem, TransientError
from shared.keys import MANIFEST, is_submission_id, published_key
from shared.models import Manifest, State
from shared.observability import logs
from shared.parsing import load_json, media_type_problem, parse_submission
from shared.pipeline import Runtime, announce_one_host_stores, get_runtime, hand_off
from shared.storage import LocalStore
from shared.writers import Writer, WritersFile, verify_signature

ACCEPTED_TYPES = ("application/json", "text/plain")
WITHDRAWABLE = (State.PUBLISHED, State.SCHEDULED)
WITHDRAWAL_MAX_BYTES = 1024  # {"id": "<32 hex digits>"} is 40 bytes: room for any spacing, no more
STATUS_FIELDS = (
    "id",
    "writer",
    "state",
    "slug",
    "title_source",
    "errors",
    "urls",
    "history",
    "scheduled_for",
    "superseded_by",
)


class BodyTooLarge(Exception):
    pass


async def read_body(request: Request, *, limit: int) -> bytes:
    """Read at most ``limit`` bytes, whatever Content-Length claims."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


@contextlib.asynccontextmanager
async def freeze_startup_heap(app: FastAPI) -> AsyncIterator[None]:
    """Move everything built before serving (the app, its imports) out of the collector's sight.

    Those objects live as long as the process, but each full collection walks them all:
    ~20 ms with the GIL held, stalling every request in flight. Under load that pause
    was most of ingest's p99 (docs/PERFORMANCE.md).
    """
    gc.freeze()
    yield


def create_app() -> FastAPI:
    settings = get_settings()
    writers = WritersFile(Path(settings.writers_file))
    # On Sentinels, a replica has every record before a 202 leaves (shared/state.py, count_received).
    acceptor = Acceptor(get_runtime(), replicas=1 if settings.redis.uses_sentinel else 0)
    announce_one_host_stores(settings)  # a directory store serves this host only: said at start-up
    app = FastAPI(
        title="Marquee ingest",
        version="1",
        description="Submit film reviews, signed per Standard Webhooks, and follow them to publication.",
        lifespan=freeze_startup_heap,
    )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [Problem(".".join(str(p) for p in e["loc"][1:]) or "request", e["msg"]) for e in exc.errors()]
        return problem(
            422, "invalid-request", "Invalid request", "The request's parameters are not valid.", errors=errors
        )

    @app.exception_handler(TransientError)
    @app.exception_handler(redis.RedisError)
    @app.exception_handler(StorageError)
    @app.exception_handler(OperationalError)
    async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
        # Redis, the broker or the archive is down: nothing was accepted, and the sender
        # should try again, as Standard Webhooks senders do on a 5xx.
        return problem(
            503,
            "unavailable",
            "Service unavailable",
            f"Nothing was accepted ({type(exc).__name__}); send it again shortly.",
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, "http-error", str(exc.detail), str(exc.detail))

    @app.post("/v1/writers/{writer}/reviews", status_code=202, openapi_extra=openapi.SUBMIT, response_model=None)
    async def submit(
        writer: str,
        request: Request,
        title: str | None = Query(None, max_length=300, description=openapi.TITLE_PARAMETER),
    ) -> Any:
        limit = settings.max_body_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return _too_large(limit)
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in ACCEPTED_TYPES:
            return problem(
                415,
                "unsupported-media-type",
                "Unsupported media type",
                f"Send application/json or text/plain, not {content_type or 'no content type'!r}.",
            )
        try:
            body = await read_body(request, limit=limit)
        except BodyTooLarge:
            return _too_large(limit)
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            return problem(
                400,
                "malformed",
                "Malformed submission",
                "The body is not UTF-8 text.",
                errors=[Problem("body", "the request body is not UTF-8 text")],
            )
        headers = {k.lower(): v for k, v in request.headers.items()}
        sender = writers.get(writer)
        if not verify_signature(sender, body, headers):  # None (no such writer) never verifies
            return unauthorized()
        if refusal := await rate_limit(sender):
            return refusal

        # The header is unsigned, the body signed: where they disagree, neither is guessed at.
        if mismatch := media_type_problem(body, content_type=content_type):
            return problem(
                415,
                "media-type-mismatch",
                "Content type does not match the body",
                mismatch.message[0].upper() + mismatch.message[1:] + ".",
                errors=[mismatch],
            )
        try:
            submission = parse_submission(
                body, content_type=content_type, title=title, signed_title=sender.require_signed_title
            )
        except MalformedSubmission as exc:
            return refusal_of(exc)

        submission_id = await acceptor.accept(
            Submission(
                writer=writer,
                webhook_id=headers["webhook-id"],
                content_type=content_type,
                title=title,
                body=body,
                started=logs.request_started.get() or time.monotonic(),
                title_source=submission.title_source,
            )
        )
        return {"id": submission_id, "status_url": str(request.url_for("status", submission_id=submission_id))}

    @app.get("/v1/reviews/{submission_id}", name="status", openapi_extra=openapi.STATUS, response_model=None)
    def status(submission_id: str) -> Any:
        record = get_runtime().states.get(submission_id) if is_submission_id(submission_id) else None
        if record is None:
            return problem(404, "not-found", "No such submission", f"No submission has the id {submission_id[:64]!r}.")
        return {field: record.get(field) for field in STATUS_FIELDS}

    @app.delete("/v1/reviews/{submission_id}", status_code=202, openapi_extra=openapi.WITHDRAW, response_model=None)
    async def withdraw(submission_id: str, request: Request) -> Any:
        """Withdraw a published review: signed, like a submission, by the writer who sent it,
        over a body naming the review, so that the signature is good for that review alone."""
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > WITHDRAWAL_MAX_BYTES:
            return _too_large(WITHDRAWAL_MAX_BYTES)  # refused before a byte of it, or anything else, is read
        try:
            body = await read_body(request, limit=WITHDRAWAL_MAX_BYTES)
        except BodyTooLarge:
            return _too_large(WITHDRAWAL_MAX_BYTES)
        if refusal := withdrawal_body_problem(body, submission_id):
            return refusal
        rt = get_runtime()
        record = await run_in_threadpool(rt.states.get, submission_id) if is_submission_id(submission_id) else None
        if record is None:
            return problem(404, "not-found", "No such submission", f"No submission has the id {submission_id[:64]!r}.")
        headers = {k.lower(): v for k, v in request.headers.items()}
        # Checked against the owner's secrets: another writer's signature never verifies.
        owner = writers.get(record["writer"])
        if not verify_signature(owner, body, headers):
            return unauthorized()
        if refusal := await rate_limit(owner):
            return refusal
        # A signature stays good for five minutes: without this claim the same request
        # could be sent again within them (after a revision went out, say).
        webhook_id = headers["webhook-id"]
        claim = {"writer": owner.id, "webhook_id": webhook_id}
        if not await run_in_threadpool(rt.states.claim_withdrawal, submission_id, **claim):
            return problem(
                409,
                "webhook-id-used",
                "Webhook-id already used",
                f"The webhook-id {webhook_id[:100]!r} was already used to withdraw a review, and a withdrawal "
                "is carried out once. To send another, sign it with a new webhook-id.",
            )
        if record["state"] not in WITHDRAWABLE:
            await run_in_threadpool(rt.states.release_withdrawal, **claim)  # nothing done: it may come again
            detail = f"The review is {record['state']}; only a published or scheduled review can be withdrawn."
            if live := record.get("superseded_by"):  # it published nothing: the later revision is what is public
                detail += f" A later revision, {live}, was live before it; withdraw that one to take the review down."
            return problem(409, "not-withdrawable", "Not withdrawable", detail)
        if record["state"] == "published" and (live := await run_in_threadpool(live_submission, rt, record)):
            if live != submission_id:
                await run_in_threadpool(rt.states.release_withdrawal, **claim)  # nothing done: it may come again
                return problem(
                    409,
                    "superseded",
                    "A later revision is live",
                    f"This submission was replaced by a later revision of the review; the live one is "
                    f"{live}. Withdraw that one to take the review down.",
                )
        try:
            await run_in_threadpool(hand_off, "retract", submission_id)
        except BaseException:
            # Not queued, so answered 503: the writer's retry with the same webhook-id must be let through.
            with contextlib.suppress(redis.RedisError):
                await run_in_threadpool(rt.states.release_withdrawal, **claim)
            raise
        return {"id": submission_id, "status_url": str(request.url_for("status", submission_id=submission_id))}

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz() -> Any:
        rt = get_runtime()
        checks: dict[str, Callable[[], object]] = {
            "redis": rt.states.redis.ping,
            "archive": rt.archive.ping,
            "publish": rt.publish.ping,
        }
        failed = []
        for name, check in checks.items():
            try:
                check()
            except Exception:  # noqa: BLE001 - readiness reports, it does not raise
                failed.append(name)
        if failed:
            return problem(503, "not-ready", "Not ready", f"Unreachable: {', '.join(failed)}.")
        return {"status": "ready"}

    limiter = RateLimiter(settings.redis, settings.rate_limit)

    async def rate_limit(writer: Writer) -> JSONResponse | None:
        rate = writer.rate_limit or settings.rate_limit
        wait = await limiter.wait_for(writer.id, rate=rate)
        if wait is None:
            return None
        return problem(
            429,
            "rate-limited",
            "Too many requests",
            f"Writer {writer.id!r} may send {rate}; try again in {wait} s.",
            headers={"Retry-After": str(wait)},
        )

    install_ops(app)  # /ops and /metrics
    publish = get_runtime().publish
    if isinstance(publish, LocalStore):
        # A person running `make run` can open the published article in a browser.
        app.mount("/site", StaticFiles(directory=publish.root, html=True), name="site")
    return app


def refusal_of(exc: MalformedSubmission) -> JSONResponse:
    """The answer to a review that cannot be read: every problem with it, the content rules'
    on the fields that could be read included, so that one answer names all there is to fix.
    400 if the body as a whole cannot be read, else 422."""
    problems = every_problem(exc, now=datetime.now(UTC))
    status = 400 if exc.readable is None else 422
    detail = "; ".join(f"{p.field}: {p.message}" for p in problems)
    if len(problems) > 1:
        detail = f"{len(problems)} problems, all to fix before sending it again: {detail}"
    return problem(status, "malformed", "Malformed submission", detail, errors=problems)


def live_submission(rt: Runtime, record: dict[str, str]) -> str | None:
    """The id of the submission whose revision is live at ``record``'s slug, if any is."""
    slug = record.get("slug")
    if not slug:
        return None
    try:
        return Manifest.model_validate_json(rt.publish.get(published_key(slug, MANIFEST))).id
    except ObjectNotFound:
        return None


def withdrawal_body_problem(body: bytes, submission_id: str) -> JSONResponse | None:
    """None if the body is ``{"id": …}`` naming the review in the path, as a withdrawal's must;
    otherwise the problem, saying what to send."""
    shown = submission_id[:64]
    expected = json.dumps({"id": shown})
    if not body.strip():
        return problem(
            400,
            "no-review-named",
            "No review named",
            f"The body is empty. A withdrawal names the review it withdraws: send {expected} "
            "(application/json) as the body, and sign that body.",
            errors=[Problem("id", "is required")],
        )
    try:
        data = load_json(body)
    except MalformedSubmission as exc:
        return problem(400, "malformed", "Malformed withdrawal", f"{exc}; send {expected}.", errors=exc.problems)
    named = data.get("id") if isinstance(data, dict) else None
    if not isinstance(named, str) or set(data) != {"id"}:
        return problem(
            400,
            "malformed",
            "Malformed withdrawal",
            f"The body must be a JSON object with the review's id and nothing else: {expected}.",
            errors=[Problem("id", "must be the review's id, as text, and the only field")],
        )
    if named != submission_id:
        return problem(
            422,
            "wrong-review",
            "The body names another review",
            f"The body names review {named[:64]!r} but the path names {shown!r}. A withdrawal is signed "
            "for one review and withdraws that review alone: send it to that review's URL.",
            errors=[Problem("id", f"{named[:64]!r} is not the review in the path, {shown!r}")],
        )
    return None


def _too_large(limit: int) -> JSONResponse:
    return problem(413, "too-large", "Body too large", f"The body is over the limit of {limit} bytes.")
