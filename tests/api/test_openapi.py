"""The published contract: valid OpenAPI 3.1, public, built from the operation catalogue, with local docs assets.

Every API response in the test suite is also checked against it (tests/contract.py, through the test client).
"""
from __future__ import annotations

import re

import pytest
from openapi_spec_validator import validate

from pixelforge.operations import OPERATIONS, BoolParam, ChoiceParam, FloatParam, IntParam, TextParam


@pytest.fixture
def document(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    return response.get_json()


def test_the_document_is_valid_openapi_3_1_and_needs_no_key(document):
    validate(document)
    assert document["openapi"].startswith("3.1")
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_every_catalogue_operation_is_described_with_its_parameters(document, name):
    operation = OPERATIONS[name]
    post = document["paths"][f"/{name}"]["post"]
    body = post["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert body["required"] == (["mask"] if operation.needs_mask else [])
    assert body["oneOf"] == [{"required": [source]} for source in ("image", "image_url", "image_job_id")]
    assert set(body["properties"]) == {"image", *(["mask"] if operation.needs_mask else []),
                                       *(spec.name for spec in operation.params), *operation.aliases,
                                       "image_url", "image_job_id", "webhook_url", "webhook_events"}
    for spec in operation.params:
        schema = body["properties"][spec.name]
        if not spec.optional:
            assert schema["default"] == spec.default
        if isinstance(spec, IntParam) and spec.choices:
            assert schema["enum"] == list(spec.choices)
        elif isinstance(spec, IntParam):
            assert (schema["minimum"], schema["maximum"]) == (spec.low, spec.high)
        elif isinstance(spec, FloatParam):
            low_key = "exclusiveMinimum" if spec.low_exclusive else "minimum"
            assert (schema[low_key], schema["maximum"]) == (spec.low, spec.high)
        elif isinstance(spec, ChoiceParam):
            assert schema["enum"] == list(spec.choices)
        elif isinstance(spec, BoolParam):
            assert schema["type"] == "boolean"
        elif isinstance(spec, TextParam):
            assert schema["maxLength"] > 0
    documented = set(post["responses"])
    assert {"200", "202", "401", "402", "403", "404", "409", "410", "413", "422", "429", "503"} <= documented
    headers = set(post["responses"]["202"]["headers"])
    assert {"X-Credits-Charged", "X-Credits-Remaining", "Preference-Applied"} <= headers


def test_headers_and_error_codes_are_documented(document):
    components = document["components"]
    assert {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Retry-After",
            "X-Request-Id", "Idempotent-Replayed"} <= set(components["headers"])
    assert "IdempotencyKey" in components["parameters"]
    refused = components["responses"]["Error422"]
    assert "corrupt_image" in refused["x-error-codes"] and "corrupt_image" in refused["description"]


def test_docs_page_loads_its_assets_from_this_server(client):
    page = client.get("/api/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources and all(source.startswith("/") for source in sources), sources
    for source in sources:
        assert client.get(source).status_code == 200, source
    assert client.get("/api/docs/assets/index.html").status_code == 404  # only the files the page needs


def test_live_events_webhooks_and_credit_headers_are_documented(document):
    paths = document["paths"]
    assert {"/jobs/{job_id}/events", "/webhooks/secret", "/webhooks/deliveries",
            "/webhooks/deliveries/{delivery_id}", "/webhooks/deliveries/{delivery_id}/redeliver"} <= set(paths)
    assert "text/event-stream" in paths["/jobs/{job_id}/events"]["get"]["responses"]["200"]["content"]
    assert "image/jpeg" in paths["/jobs/{job_id}/download"]["get"]["responses"]["200"]["content"]
    components = document["components"]
    assert {"X-Credits-Charged", "X-Credits-Remaining", "Preference-Applied"} <= set(components["headers"])
    assert components["parameters"]["Prefer"]["in"] == "header"
    assert {"queue_position", "eta_seconds"} <= set(components["schemas"]["Job"]["properties"])
