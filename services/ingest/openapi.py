"""The OpenAPI description of what the ingest service accepts and answers, with examples.

The submission body is read raw (its signature covers the exact bytes), so FastAPI
cannot infer it; it is described here instead.
"""

from __future__ import annotations

from typing import Any

from shared.models import ReviewSubmission

PROBLEM_SCHEMA = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}

TEXT_EXAMPLE = """Title: The Salt Road
Cert (UK): 12A
Runtime: 1h 52m
Director: Marguerite Okafor
Cast: Idris Calloway, Noémie Ferrand
Rating ****
The Salt Road opens on a lorry stalled at a border crossing. It is a bold start. The ending earns the wait.

Written by Priya Ramanathan
"""

JSON_EXAMPLE = {
    "title": "Paper Lanterns",
    "year": 2026,
    "certificate": "PG",
    "runtime_minutes": 98,
    "directors": ["Hiro Tanabe"],
    "cast": ["Aiko Mori"],
    "rating": 3.5,
    "body": "A gentle comedy about a restaurant's last night. It hums along. The final shot is lovely.",
    "author": "Sam Okonjo",
}

TITLE_PARAMETER = (
    "The title of a text review that has no `Title:` line. It is not signed (the signature covers the "
    'body alone), so the status and `review.json` record `title_source: "query"`; a writer whose entry '
    "requires signed titles gets 422 instead. Ignored for JSON reviews, and when the text has a `Title:` line."
)

SIGNATURE_HEADERS = [
    {
        "name": "webhook-id",
        "in": "header",
        "required": True,
        "schema": {"type": "string"},
        "description": "A unique id for this message; a repeat returns the first submission.",
        "example": "msg_2f1c0d",
    },
    {
        "name": "webhook-timestamp",
        "in": "header",
        "required": True,
        "schema": {"type": "string"},
        "description": "Unix seconds; more than 5 minutes off is refused.",
        "example": "1764038744",
    },
    {
        "name": "webhook-signature",
        "in": "header",
        "required": True,
        "schema": {"type": "string"},
        "description": "`v1,` + base64 HMAC-SHA256 of `{id}.{timestamp}.{body}` (Standard Webhooks).",
        "example": "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=",
    },
]


def _problem(description: str, status: int, title: str, detail: str, errors: list | None = None) -> dict:
    example: dict[str, Any] = {
        "type": "https://marquee.example/problems/…",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors:
        example["errors"] = errors
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": PROBLEM_SCHEMA, "example": example}},
    }


ACCEPTED = {
    "description": "Stored and queued. Follow `status_url`.",
    "content": {
        "application/json": {
            "example": {
                "id": "3ae2bc2bd0c281b2c529ba4bbbaa1750",
                "status_url": "http://127.0.0.1:8000/v1/reviews/3ae2bc2bd0c281b2c529ba4bbbaa1750",
            }
        }
    },
}
UNAUTHORIZED = _problem(
    "Unknown writer, bad signature or stale timestamp (one answer for all).",
    401,
    "Unauthorized",
    "The request could not be authenticated. Sign it per Standard Webhooks with a current timestamp.",
)
RATE_LIMITED = _problem(
    "Over the writer's rate limit; see Retry-After.",
    429,
    "Too many requests",
    "Writer 'dev' may send 60/minute; try again in 12 s.",
)
UNAVAILABLE = _problem(
    "Redis or the archive is unreachable: nothing was accepted.",
    503,
    "Service unavailable",
    "The submission was not accepted (ConnectionError); send it again shortly.",
)
INVALID = _problem(
    "The request's parameters are not valid.",
    422,
    "Invalid request",
    "The request's parameters are not valid.",
    [{"field": "submission_id", "message": "…"}],
)
NOT_FOUND = _problem("No submission has this id.", 404, "No such submission", "No submission has the id '…'.")

SUBMIT = {
    "summary": "Submit a review",
    "description": "A JSON review, or a text review in the reviews site's format. Signed per Standard Webhooks "
    "with one of the writer's secrets. A readable review that breaks a content rule is accepted, "
    "then rejected by the validate stage: follow `status_url` to see why.",
    "parameters": SIGNATURE_HEADERS,
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": ReviewSubmission.model_json_schema(), "example": JSON_EXAMPLE},
            "text/plain": {"schema": {"type": "string"}, "example": TEXT_EXAMPLE},
        },
    },
    "responses": {
        "202": ACCEPTED,
        "400": _problem(
            "The body cannot be read: not JSON, not UTF-8.",
            400,
            "Malformed submission",
            "body: not valid JSON: Expecting value at line 1, column 1",
            [{"field": "body", "message": "not valid JSON: Expecting value at line 1, column 1"}],
        ),
        "401": UNAUTHORIZED,
        "413": _problem(
            "The body is over 1 MiB.", 413, "Body too large", "The body is over the limit of 1048576 bytes."
        ),
        "415": _problem(
            "Neither application/json nor text/plain; or the content type and the (signed) body disagree: "
            "a body that parses, whole, as a JSON object sent as text/plain, or a body that is not JSON and "
            "does not begin with `{` or `[` sent as application/json. The detail names both.",
            415,
            "Content type does not match the body",
            "The header says text/plain, but the body is a JSON object: send it as application/json.",
            [
                {
                    "field": "content-type",
                    "message": "the header says text/plain, but the body is a JSON object: send it as application/json",
                }
            ],
        ),
        "422": _problem(
            "Readable, but fields are missing, of the wrong type, or cannot be read (a text review's runtime, "
            "rating, title…). Every problem is listed, one entry a field, the content rules' on the fields "
            "that could be read included: fix them all before sending it again.",
            422,
            "Malformed submission",
            "3 problems, all to fix before sending it again: runtime_minutes: cannot read '-5 mins' as a runtime; "
            "write '126 mins' or '2h 6m'; certificate: '21' is not a BBFC certificate; use one of U, PG, 12A, 12, "
            "15, 18, R18; rating: 7 is not a rating; use 0 to 5 stars in steps of a half",
            [
                {
                    "field": "runtime_minutes",
                    "message": "cannot read '-5 mins' as a runtime; write '126 mins' or '2h 6m'",
                },
                {
                    "field": "certificate",
                    "message": "'21' is not a BBFC certificate; use one of U, PG, 12A, 12, 15, 18, R18",
                },
                {"field": "rating", "message": "7 is not a rating; use 0 to 5 stars in steps of a half"},
            ],
        ),
        "429": RATE_LIMITED,
        "503": UNAVAILABLE,
    },
}

STATUS = {
    "summary": "Where a submission is",
    "description": "Readable with the id alone (128 random bits). Shows state and errors, never the review's text. "
    "`state` runs `received`, `validated`, `rendered`, `social_ready`, (`scheduled`,) `uploaded`, `published`, or "
    "ends `rejected` (a content problem), `failed` (retries used up), `superseded` (never published: a later "
    "revision of the review was already live, named by `superseded_by`) or `retracted` (withdrawn). "
    "`title_source` says where the title came from: `body` (signed) or `query` (the unsigned `?title=`).",
    "responses": {
        "200": {
            "description": "The submission's state.",
            "content": {
                "application/json": {
                    "example": {
                        "id": "3ae2bc2bd0c281b2c529ba4bbbaa1750",
                        "writer": "dev",
                        "state": "rejected",
                        "slug": None,
                        "title_source": "body",
                        "errors": [
                            {"field": "rating", "message": "7 is not a rating; use 0 to 5 stars in steps of a half"}
                        ],
                        "urls": {},
                        "scheduled_for": None,
                        "superseded_by": None,
                        "history": [
                            {"stage": "ingest", "state": "received", "at": "2026-11-25T02:45:44.148Z"},
                            {"stage": "validate", "state": "rejected", "at": "2026-11-25T02:45:44.201Z"},
                        ],
                    }
                }
            },
        },
        "404": NOT_FOUND,
        "422": INVALID,
    },
}

WITHDRAWAL_EXAMPLE = {"id": "3ae2bc2bd0c281b2c529ba4bbbaa1750"}

WITHDRAW = {
    "summary": "Withdraw a published or scheduled review",
    "description": "Signed like a submission by the writer who sent it, over a body naming the review: "
    '`{"id": "<the id in the path>"}`, so that the signature withdraws that review alone. Each webhook-id '
    "withdraws once: a replay is refused. Removes the review's public assets and emits `review.retracted`; "
    "the archive keeps it.",
    "parameters": SIGNATURE_HEADERS,
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["id"],
                    "additionalProperties": False,
                    "properties": {"id": {"type": "string", "description": "The id in the path."}},
                },
                "example": WITHDRAWAL_EXAMPLE,
            }
        },
    },
    "responses": {
        "202": ACCEPTED,
        "400": _problem(
            'The body does not name a review: empty, not JSON, or not `{"id": …}`.',
            400,
            "No review named",
            "The body is empty. A withdrawal names the review it withdraws: send "
            '{"id": "3ae2bc2bd0c281b2c529ba4bbbaa1750"} (application/json) as the body, and sign that body.',
            [{"field": "id", "message": "is required"}],
        ),
        "401": UNAUTHORIZED,
        "404": NOT_FOUND,
        "409": _problem(
            "Not published or scheduled (a superseded revision names the live one), or this webhook-id was "
            "already used for a withdrawal.",
            409,
            "Not withdrawable",
            "The review is rejected; only a published or scheduled review can be withdrawn.",
        ),
        "413": _problem("The body is over 1 KiB.", 413, "Body too large", "The body is over the limit of 1024 bytes."),
        "422": _problem(
            "The body names another review than the path, or the path is not valid.",
            422,
            "The body names another review",
            "The body names review '5b0c…' but the path names '3ae2…'. A withdrawal is signed for one review "
            "and withdraws that review alone: send it to that review's URL.",
            [{"field": "id", "message": "'5b0c…' is not the review in the path, '3ae2…'"}],
        ),
        "429": RATE_LIMITED,
        "503": UNAVAILABLE,
    },
}
