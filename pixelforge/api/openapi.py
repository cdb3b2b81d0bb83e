"""The OpenAPI 3.1 document of /api/v1, built from the operation catalogue so that it cannot drift from the routes."""
from __future__ import annotations

from typing import Any

from flask import Flask

from pixelforge.operations import (OPERATIONS, BoolParam, ChoiceParam, FloatParam, IntParam, Operation, Param,
                                   TextParam)
from pixelforge.plans import PLANS

API_VERSION = "1.0.0"
FILE_PART = {"type": "string", "format": "binary", "contentMediaType": "application/octet-stream"}  # format: for generators
NULLABLE_STRING = {"type": ["string", "null"]}
JOB_STATUSES = ["queued", "processing", "done", "failed", "cancelled"]

# What each status means, with the error codes a route may give under it.
ERRORS: dict[int, tuple[str, list[str]]] = {
    401: ("The API key is missing, invalid or revoked.", ["authentication_required", "invalid_api_key"]),
    402: ("The balance does not cover the job; nothing was charged.", ["insufficient_credits"]),
    403: ("The account's plan has no API access.", ["plan_without_api_access"]),
    404: ("No such job among yours (other users' jobs are indistinguishable from missing ones).",
          ["job_not_found", "not_found"]),
    408: ("The request body stopped arriving, or took too long; the connection is closed.", ["request_timeout"]),
    409: ("Not finished yet, already final, or an Idempotency-Key reused with a different request.",
          ["job_not_finished", "job_already_final", "job_cancelled", "idempotency_conflict"]),
    410: ("The result was deleted after the retention period.", ["result_expired"]),
    413: ("The request body is over the upload limit; it was not read.", ["upload_too_large"]),
    422: ("A parameter or file was refused; `param` names it. Nothing was charged or queued.",
          ["validation_error", "missing_file", "file_sent_as_text", "unknown_parameter", "unsupported_media_type",
           "invalid_encoding", "duplicate_field", "empty_file", "unsupported_format", "corrupt_image",
           "image_too_large", "animated_image", "output_too_large", "empty_mask", "full_mask",
           "mask_size_mismatch"]),
    429: ("The plan's rate limit over the last 60 seconds is used up; retry after `Retry-After` seconds.",
          ["rate_limited"]),
    502: ("Storage failed, or (on download) the job failed and was refunded: the code is the job's own error code.",
          ["storage_error", "inference_error", "no_face_found", "no_subject_found", "storage_full", "timeout",
           "worker_lost", "queue_timeout", "queue_unavailable", "internal_error", "job_failed"]),
    503: ("The queue is unreachable, no worker is live, the operation's model is not installed, or the web process "
          "is busy checking other uploads; nothing was charged.", ["service_unavailable"]),
    507: ("Storage is full, so the upload could not be kept; nothing was charged.", ["insufficient_storage"]),
}
SUBMISSION_ERRORS = (401, 402, 403, 408, 409, 413, 422, 429, 502, 503, 507)
READ_ERRORS = (401, 403, 429)


def _param_schema(spec: Param, config) -> dict[str, Any]:
    if isinstance(spec, IntParam):
        schema = {"type": "integer", "minimum": spec.low, "maximum": spec.high}
        if spec.choices:
            schema = {"type": "integer", "enum": list(spec.choices)}
    elif isinstance(spec, FloatParam):
        bound = "exclusiveMinimum" if spec.low_exclusive else "minimum"
        schema = {"type": "number", bound: spec.low, "maximum": spec.high}
    elif isinstance(spec, ChoiceParam):
        schema = {"type": "string", "enum": list(spec.choices)}
    elif isinstance(spec, BoolParam):
        schema = {"type": "boolean"}
    elif isinstance(spec, TextParam):
        schema = {"type": "string", "maxLength": int(config[spec.max_chars_setting])}
    else:  # a new parameter type must be described here before it can ship
        raise TypeError(f"no OpenAPI schema for {type(spec).__name__}")
    if spec.default is not None and not spec.optional:
        schema["default"] = spec.default
    if spec.optional:
        schema["description"] = "Optional; left out, the server chooses."
    return schema


def _request_body(operation: Operation, config) -> dict[str, Any]:
    properties: dict[str, Any] = {"image": {**FILE_PART, "description": "PNG, JPEG or WebP, recognised by its bytes."}}
    required = ["image"]
    if operation.needs_mask:
        properties["mask"] = {**FILE_PART, "description": "The image's size; white (or opaque) = the area to change."}
        required.append("mask")
    for spec in operation.params:
        properties[spec.name] = _param_schema(spec, config)
    return {"required": True, "content": {"multipart/form-data": {
        "schema": {"type": "object", "properties": properties, "required": required, "additionalProperties": False},
        "encoding": {"image": {"contentType": "image/png, image/jpeg, image/webp"}},
    }}}


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(status): {"$ref": f"#/components/responses/Error{status}"} for status in statuses}


def _ok(description: str, schema_name: str, headers: tuple[str, ...] = ("X-Request-Id", "RateLimit")) -> dict:
    return {"description": description, "headers": _headers(headers),
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_name}"}}}}


def _headers(names: tuple[str, ...]) -> dict[str, Any]:
    refs = {}
    for name in names:
        group = ["X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"] if name == "RateLimit" else [name]
        refs.update({header: {"$ref": f"#/components/headers/{header}"} for header in group})
    return refs


def _submission(operation: Operation, config) -> dict[str, Any]:
    cost_note = _cost_note(operation)
    return {"post": {
        "operationId": f"submit_{operation.name.replace('-', '_')}",
        "summary": operation.summary,
        "description": f"{operation.summary} Costs {cost_note}. Answers 202 at once; poll the job, then download.",
        "tags": ["operations"],
        "parameters": [{"$ref": "#/components/parameters/IdempotencyKey"},
                       {"$ref": "#/components/parameters/RequestId"}],
        "requestBody": _request_body(operation, config),
        "responses": {"202": _ok("Queued (or, with a replayed Idempotency-Key, the first response).", "Submitted",
                                 ("X-Request-Id", "RateLimit", "Idempotent-Replayed")),
                      **_errors(*SUBMISSION_ERRORS)},
    }}


def _cost_note(operation: Operation) -> str:
    defaults = {spec.name: spec.default for spec in operation.params}
    costs = {operation.cost(defaults)}
    for spec in operation.params:
        for choice in getattr(spec, "choices", ()) or ():
            costs.add(operation.cost({**defaults, spec.name: choice}))
    low, high = min(costs), max(costs)
    return f"{low} credit{'s' * (low != 1)}" if low == high else f"{low}–{high} credits by parameters"


def _job_routes() -> dict[str, Any]:
    job_id = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 36}}
    request_id = {"$ref": "#/components/parameters/RequestId"}
    return {
        "/jobs": {"get": {
            "operationId": "list_jobs", "summary": "Your jobs, newest first.", "tags": ["jobs"],
            "parameters": [request_id,
                           {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                                        "maximum": 100, "default": 20}},
                           {"name": "cursor", "in": "query", "schema": {"type": "string"},
                            "description": "next_cursor of the previous page."}],
            "responses": {"200": _ok("A page of jobs.", "JobList"), **_errors(*READ_ERRORS, 422)}}},
        "/jobs/{job_id}": {"get": {
            "operationId": "get_job", "summary": "A job's status, progress, engine and result URL.",
            "tags": ["jobs"], "parameters": [job_id, request_id],
            "responses": {"200": _ok("The job.", "Job"), **_errors(*READ_ERRORS, 404)}}},
        "/jobs/{job_id}/download": {"get": {
            "operationId": "download_result", "summary": "The finished job's result image.", "tags": ["jobs"],
            "parameters": [job_id, request_id,
                           {"name": "download", "in": "query", "schema": {"type": "boolean"},
                            "description": "true: served as an attachment with a file name."}],
            "responses": {"200": {"description": "The result's bytes.", "headers": _headers(("X-Request-Id",)),
                                  "content": {kind: {} for kind in ("image/png", "image/webp")}},
                          **_errors(*READ_ERRORS, 404, 409, 410, 502)}}},
        "/jobs/{job_id}/cancel": {"post": {
            "operationId": "cancel_job", "summary": "Cancel a queued or processing job; it is refunded.",
            "tags": ["jobs"], "parameters": [job_id, request_id],
            "responses": {"200": _ok("The cancelled job.", "Job"), **_errors(401, 403, 404, 409, 429)}}},
        "/account": {"get": {
            "operationId": "get_account", "summary": "Your plan, balance and rate limits.", "tags": ["account"],
            "parameters": [request_id],
            "responses": {"200": _ok("The account.", "Account"), **_errors(*READ_ERRORS)}}},
    }


def build_document(app: Flask, server_url: str = "/api/v1") -> dict[str, Any]:
    """The whole document; `server_url` is where /api/v1 is reached from the reader's side."""
    from pixelforge.api.openapi_components import components

    paths: dict[str, Any] = {f"/{name}": _submission(op, app.config) for name, op in OPERATIONS.items()}
    paths.update(_job_routes())
    plans = ", ".join(f"{plan.name} {plan.rpm}/min" for plan in PLANS.values() if plan.api_access)
    return {
        "openapi": "3.1.0",
        "info": {"title": "PixelForge API", "version": API_VERSION,
                 "description": ("Image AI behind Bearer keys: submit a job, poll it, download the result. "
                                 f"Submissions per minute by plan: {plans}; reads get "
                                 f"{app.config['READ_RATE_MULTIPLIER']}× that. Errors are checked in the order "
                                 "401 → 403 → 413 → 429 → 422 → 402 → 503.")},
        "servers": [{"url": server_url}],
        "security": [{"bearerAuth": []}],
        "tags": [{"name": "operations", "description": "Submit a job (multipart form data)."},
                 {"name": "jobs"}, {"name": "account"}],
        "paths": paths,
        "components": components(ERRORS, JOB_STATUSES, sorted(OPERATIONS)),
    }
