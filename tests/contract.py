"""Every API response the tests see is checked against the published OpenAPI document (openapi-core)."""
from __future__ import annotations

import json
from functools import lru_cache

from flask import Flask


UNDOCUMENTED_ROUTE = {"PathNotFound", "OperationNotFound"}


@lru_cache(maxsize=8)
def _openapi(document_json: str):
    from openapi_core import OpenAPI

    return OpenAPI.from_dict(json.loads(document_json))


def contract_for(app: Flask):
    from pixelforge.api.openapi import build_document

    with app.app_context():
        return _openapi(json.dumps(build_document(app), sort_keys=True))


def _RequestWithoutBody(request):
    """The request as openapi-core sees it, minus the body: a response check needs none, and it is read already."""
    from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest

    class Consumed(WerkzeugOpenAPIRequest):
        body = None

    return Consumed(request)


def check_response(app: Flask, response) -> None:
    """Raise (with the route and status) when an /api/v1 response does not match the document."""
    from openapi_core.contrib.werkzeug import WerkzeugOpenAPIResponse

    request = response.request
    if not request.path.startswith("/api/v1/") or request.path == "/api/v1/openapi.json":
        return
    errors = list(contract_for(app).iter_response_errors(_RequestWithoutBody(request),
                                                          WerkzeugOpenAPIResponse(response)))
    if response.status_code in (404, 405) and all(type(e).__name__ in UNDOCUMENTED_ROUTE for e in errors):
        return  # a route or method the API does not have: nothing in the document to match, the shape is checked
    if errors:
        details = "; ".join(f"{error}: {getattr(error, '__cause__', None) or ''}" for error in errors)
        raise AssertionError(f"{request.method} {request.path} -> {response.status_code} breaks the OpenAPI "
                             f"document: {details}\nbody: {response.get_data(as_text=True)[:500]}")
