"""Fuzzing the ingest API over real HTTP: generated bodies and headers, signed and not.

Whatever arrives, the answer is never a 5xx, and every 4xx carries a problem body.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
import schemathesis
from hypothesis import HealthCheck, event, given, settings
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


def deep_json(opener: str, depth: int, closed: bool) -> str:
    """``depth`` levels of ``opener`` (an array, an object, or both in turn), closed or left open."""
    closer = "".join({"[": "]", "{": "}"}[c] for c in reversed(opener) if c in "[{")
    return opener * depth + "0" + (closer * depth if closed else closer * (depth // 2))


def wide_json(kind: str, members: int) -> str:
    if kind == "array":
        return "[" + ",".join(["0"] * members) + "]"
    return "{" + ",".join(f'"k{i}": 0' for i in range(members)) + "}"


# Around and far past the limits (20 levels, 1,000 members, 1 MiB), and deep enough
# to exhaust a recursive parser.
DEEP_OR_WIDE = st.one_of(
    st.builds(
        deep_json,
        st.sampled_from(["[", '{"a": ', '[{"a": ']),
        st.one_of(st.integers(1, 40), st.integers(900, 1_100), st.integers(1, 200_000)),
        st.booleans(),
    ),
    st.builds(
        wide_json,
        st.sampled_from(["array", "object"]),
        st.one_of(st.integers(990, 1_010), st.integers(0, 120_000)),
    ),
)
HEADER_VALUES = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40).map(str.strip)


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


def belied_by_the_body(body: str, content_type: str) -> bool:
    """The rule docs/WRITERS.md gives for a 415, restated: a JSON object sent as text, or a
    body that is not JSON and does not begin with { or [ sent as JSON."""
    try:
        parsed, is_json = json.loads(body), True
    except (ValueError, RecursionError):
        parsed, is_json = None, False
    if content_type.startswith("text/plain"):
        return isinstance(parsed, dict)
    start = body.lstrip()
    return bool(start) and not start.startswith(("{", "[")) and not is_json


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    body=st.one_of(REVIEW_LIKE.map(json.dumps), JSON_VALUES.map(json.dumps), TEXT_LINES, st.text(max_size=120)),
    content_type=st.sampled_from(["text/plain", "text/plain; charset=utf-8", "application/json"]),
)
def test_signed_bodies_under_either_content_type(local_stack, body, content_type):
    """Either body under either header: 415 exactly where the header and the body disagree."""
    response = local_stack.submit(
        body.encode(), content_type=content_type, writer="fuzz", secret=local_stack.fuzz_secret
    )
    event(f"answered {response.status_code}")  # --hypothesis-show-statistics: how often each, 415 included
    assert_well_answered(response)
    assert (response.status_code == 415) == belied_by_the_body(body, content_type), response.text
    if response.status_code == 415:
        assert content_type.split(";")[0] in response.json()["detail"]


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


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(value=DEEP_OR_WIDE, field=st.none() | st.sampled_from(["title", "cast", "rating", "extra"]))
def test_signed_deep_and_wide_json(local_stack, value, field):
    body = value if field is None else f'{{"{field}": {value}}}'
    response = local_stack.submit(body.encode(), writer="fuzz", secret=local_stack.fuzz_secret)
    assert_well_answered(response)


@pytest.fixture(scope="module")
def fuzz_reviews(local_stack) -> dict[str, str]:
    """Two of the fuzz writer's reviews, one published and one rejected, by their state."""

    def submit(**changes) -> str:
        review = json.loads(fixture_bytes("glasshouse.json")) | {"title": f"Fuzz {uuid.uuid4().hex[:8]}"} | changes
        response = local_stack.submit(json.dumps(review).encode(), writer="fuzz", secret=local_stack.fuzz_secret)
        return response.json()["id"]

    ids = {"published": submit(), "rejected": submit(rating=9)}
    for state, submission_id in ids.items():
        assert local_stack.wait_for(submission_id)["state"] == state
    return ids


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    body=st.one_of(
        st.just('{"id": "REJECTED"}'),  # the right body for the rejected review: refused for its state alone
        st.just(""),  # how withdrawals used to be signed
        JSON_VALUES.map(json.dumps),
        st.fixed_dictionaries({"id": st.sampled_from(["REJECTED", "0" * 32]) | st.text(max_size=40)}).map(json.dumps),
        DEEP_OR_WIDE,
        st.text(st.characters(blacklist_categories=["Cs"]), max_size=300),  # what UTF-8 can carry
    ),
    path_id=st.sampled_from(["PUBLISHED", "REJECTED", "0" * 32, "not-an-id", "REJECTED/..", "%00"]),
    signed=st.booleans(),
    headers=st.dictionaries(
        st.sampled_from(["webhook-id", "webhook-timestamp", "webhook-signature", "content-type"]),
        HEADER_VALUES,
        max_size=4,
    ),
)
def test_withdrawals_of_any_shape(local_stack, fuzz_reviews, body, path_id, signed, headers):
    """No body but one naming the published review (never generated) may withdraw it."""
    for placeholder, submission_id in [
        ("PUBLISHED", fuzz_reviews["published"]),
        ("REJECTED", fuzz_reviews["rejected"]),
    ]:
        body, path_id = body.replace(placeholder, submission_id), path_id.replace(placeholder, submission_id)
    content = body.encode()
    if signed:
        headers = headers | sign(
            local_stack.fuzz_secret, msg_id=f"msg_{uuid.uuid4().hex}", timestamp=int(time.time()), body=content
        )
    response = local_stack.client.request("DELETE", f"/v1/reviews/{path_id}", content=content, headers=headers)
    assert_well_answered(response)
    assert response.status_code != 202, response.text
    if path_id == fuzz_reviews["published"]:
        assert local_stack.status(path_id)["state"] == "published"


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
    assert {op.label for op in operations} >= {
        "POST /v1/writers/{writer}/reviews",
        "GET /v1/reviews/{submission_id}",
        "DELETE /v1/reviews/{submission_id}",
    }
    for operation in operations:

        @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(), name_the_path=st.booleans())
        def exercise(case, name_the_path):
            if case.method == "DELETE":
                # Signed over the generated body; half the time it names the review in the
                # path, as a withdrawal's must, so that requests get past the body check.
                if name_the_path and isinstance(case.body, dict):
                    case.body = {**case.body, "id": case.path_parameters["submission_id"]}
                body = json.dumps(case.body).encode() if case.body is not None else b""
                case.body = body
                case.headers = {**(case.headers or {}), "content-type": "application/json"}
            elif case.method == "POST":
                # Signed, so generated bodies get past authentication into the parser.
                body = (
                    case.body
                    if isinstance(case.body, bytes)
                    else (case.body.encode() if isinstance(case.body, str) else json.dumps(case.body).encode())
                )
                case.body = body
                case.path_parameters = {"writer": "fuzz"}
            if case.method in ("POST", "DELETE"):
                case.headers = {
                    **(case.headers or {}),
                    **sign(
                        local_stack.fuzz_secret, msg_id=f"msg_{uuid.uuid4().hex}", timestamp=int(time.time()), body=body
                    ),
                }
            assert_well_answered(case.call(base_url=local_stack.url))

        exercise()
