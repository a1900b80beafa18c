"""Fuzzing the ingest API over real HTTP: generated bodies and headers, signed and not.

Whatever arrives, the answer is never a 5xx, and every 4xx carries a problem body.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.core.result import Ok

from shared.writers import sign
from tests.conftest import fixture_bytes

pytestmark = pytest.mark.integration

FIELDS = [
    "title",
    "year",
    "certificate",
    "runtime_minutes",
    "directors",
    "cast",
    "rating",
    "body",
    "author",
    "note",
    "publish_at",
    "replaces",
    "extra",
]
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)
REVIEW_LIKE = st.fixed_dictionaries({}, optional=dict.fromkeys(FIELDS, JSON_VALUES))
TEXT_LINES = st.lists(
    st.sampled_from(
        [
            "Title: A Film",
            "Cert (UK):\u00a015",
            "Runtime: 2h 6m",
            "Runtime: forever",
            "Director: Someone",
            "Cast: A, B",
            "Rating ***",
            "Rating ★★★★½",
            "Rating: lots",
            "Written by Somebody",
            "(a note)",
            "Follow Us On Instagram!",
            "  • Sat",
            "",
            "{{ 7*7 }}",
            "<script>alert(1)</script>",
            "A sentence of review text here.",
        ]
    )
    | st.text(max_size=60),
    max_size=25,
).map("\n".join)


def assert_well_answered(response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        content_type = response.headers["content-type"]
        content_type = content_type[0] if isinstance(content_type, list) else content_type  # schemathesis: lists
        assert content_type == "application/problem+json", response.text
        problem = response.json()
        assert problem["status"] == response.status_code and problem["title"] and problem["detail"]


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=REVIEW_LIKE, content_type=st.sampled_from(["application/json", "application/json; charset=utf-8"]))
def test_signed_json_of_any_shape(local_stack, body, content_type):
    assert_well_answered(
        local_stack.submit(
            json.dumps(body).encode(), content_type=content_type, writer="fuzz", secret=local_stack.fuzz_secret
        )
    )


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=TEXT_LINES, title=st.none() | st.text(max_size=30))
def test_signed_text_of_any_shape(local_stack, text, title):
    params = {"title": title} if title is not None else None
    assert_well_answered(
        local_stack.submit(
            text.encode(), content_type="text/plain", params=params, writer="fuzz", secret=local_stack.fuzz_secret
        )
    )


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    body=st.binary(max_size=300),
    headers=st.dictionaries(
        # Content-Length is the HTTP client's business: httpx refuses to send a false one.
        st.sampled_from(["webhook-id", "webhook-timestamp", "webhook-signature", "content-type"]),
        # Values HTTP can carry at all (no surrounding spaces); what they say is up to chance.
        st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40).map(str.strip),
        max_size=5,
    ),
)
def test_raw_bytes_and_headers(local_stack, body, headers):
    response = local_stack.client.post("/v1/writers/alice/reviews", content=body, headers=headers)
    assert_well_answered(response)


def test_signed_bytes_that_are_not_utf8(local_stack):
    import base64
    import hashlib
    import hmac

    body = fixture_bytes("glasshouse.json").replace("é".encode(), b"\xe9")  # Latin-1, not UTF-8
    # standardwebhooks signs text only; these bytes are signed by hand, as a careless sender might.
    key = base64.b64decode(local_stack.secret.removeprefix("whsec_"))
    msg_id, timestamp = f"msg_{uuid.uuid4().hex}", str(int(time.time()))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    response = local_stack.client.post(
        "/v1/writers/alice/reviews",
        content=body,
        headers={
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": timestamp,
            "webhook-signature": "v1," + base64.b64encode(digest).decode(),
        },
    )
    assert_well_answered(response)
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "body"


def test_the_openapi_document_against_the_service(local_stack):
    """Schemathesis generates requests from the served OpenAPI document, signed where they would be."""
    schema = schemathesis.openapi.from_url(f"{local_stack.url}/openapi.json")
    results = list(schema.get_all_operations())
    assert all(isinstance(result, Ok) for result in results), results  # each operation loads
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert {op.label for op in operations} >= {"POST /v1/writers/{writer}/reviews", "GET /v1/reviews/{submission_id}"}
    for operation in operations:

        @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def exercise(case):
            if case.method == "POST":
                # Signed, so generated bodies get past authentication into the parser.
                body = (
                    case.body
                    if isinstance(case.body, bytes)
                    else (case.body.encode() if isinstance(case.body, str) else json.dumps(case.body).encode())
                )
                case.body = body
                case.path_parameters = {"writer": "fuzz"}
            elif case.method == "DELETE":
                body = b""  # a withdrawal is signed over an empty body
            if case.method in ("POST", "DELETE"):
                case.headers = {
                    **(case.headers or {}),
                    **sign(
                        local_stack.fuzz_secret, msg_id=f"msg_{uuid.uuid4().hex}", timestamp=int(time.time()), body=body
                    ),
                }
            assert_well_answered(case.call(base_url=local_stack.url))

        exercise()
