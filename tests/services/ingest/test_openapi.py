"""The OpenAPI document the ingest service serves describes every endpoint, body and error."""

import pytest
from openapi_spec_validator import validate

pytestmark = pytest.mark.integration


def test_the_served_openapi_document_is_valid_and_complete(local_stack):
    spec = local_stack.client.get("/openapi.json").json()
    validate(spec)
    paths = spec["paths"]
    assert set(paths["/v1/writers/{writer}/reviews"]) == {"post"}
    assert set(paths["/v1/reviews/{submission_id}"]) == {"get", "delete"}
    assert {"/healthz", "/readyz"} <= set(paths)

    submit = paths["/v1/writers/{writer}/reviews"]["post"]
    assert set(submit["requestBody"]["content"]) == {"application/json", "text/plain"}
    assert all("example" in body for body in submit["requestBody"]["content"].values())
    assert {"webhook-id", "webhook-timestamp", "webhook-signature"} <= {p["name"] for p in submit["parameters"]}
    assert {"202", "400", "401", "413", "415", "422", "429", "503"} <= set(submit["responses"])
    withdraw = paths["/v1/reviews/{submission_id}"]["delete"]
    assert {"202", "400", "401", "404", "409", "413", "422", "429", "503"} <= set(withdraw["responses"])
    # A withdrawal's body names its review, so that its signature covers which one.
    body = withdraw["requestBody"]["content"]["application/json"]
    assert body["schema"]["required"] == ["id"] and set(body["example"]) == {"id"}
    assert {"webhook-id", "webhook-timestamp", "webhook-signature"} <= {p["name"] for p in withdraw["parameters"]}

    for path, methods in paths.items():
        for method, operation in methods.items():
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    body = response["content"]["application/problem+json"]
                    assert body["example"]["status"] == int(status), (path, method, status)
