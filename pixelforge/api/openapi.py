"""The OpenAPI 3.1 document of /api/v1, built from the operation catalogue so that it cannot drift from the routes."""
from __future__ import annotations

from typing import Any

from flask import Flask

from pixelforge.api.openapi_paths import (CREDIT_HEADERS, READ_ERRORS, errors, header_refs, job_routes, ok,
                                          webhook_routes)
from pixelforge.operations import (OPERATIONS, BoolParam, ChoiceParam, ColorParam, FloatParam, IntParam, Operation,
                                   Param, TextParam)
from pixelforge.plans import PLANS
from pixelforge.webhooks import EVENTS

API_VERSION = "1.0.0"
FILE_PART = {"type": "string", "format": "binary", "contentMediaType": "application/octet-stream"}  # format: for generators
NULLABLE_STRING = {"type": ["string", "null"]}
JOB_STATUSES = ["queued", "processing", "done", "failed", "cancelled"]

# What each status means, with the error codes a route may give under it.
ERRORS: dict[int, tuple[str, list[str]]] = {
    401: ("The API key is missing, invalid or revoked.", ["authentication_required", "invalid_api_key"]),
    402: ("The balance does not cover the job; nothing was charged.", ["insufficient_credits"]),
    403: ("The account's plan has no API access.", ["plan_without_api_access"]),
    404: ("No such job (or webhook delivery) among yours (other users' are indistinguishable from missing ones); "
          "on a submission, the image_job_id.", ["job_not_found", "delivery_not_found", "not_found"]),
    408: ("The request body stopped arriving, or took too long; the connection is closed.", ["request_timeout"]),
    409: ("Not finished yet, already final, or an Idempotency-Key reused with a different request.",
          ["job_not_finished", "job_already_final", "job_cancelled", "idempotency_conflict"]),
    410: ("The result was deleted after the retention period.", ["result_expired"]),
    413: ("The request body is over the upload limit; it was not read.", ["upload_too_large"]),
    422: ("A parameter or file was refused; `param` names it. Nothing was charged or queued.",
          ["validation_error", "missing_file", "file_sent_as_text", "unknown_parameter", "unsupported_media_type",
           "invalid_encoding", "duplicate_field", "empty_file", "unsupported_format", "corrupt_image",
           "image_too_large", "animated_image", "output_too_large", "empty_mask", "full_mask",
           "mask_size_mismatch", "invalid_url", "url_refused", "unresolvable_host", "image_source_conflict",
           "fetch_failed", "fetch_too_large", "fetch_timeout", "job_has_no_result", "unknown_webhook_event",
           "invalid_color", "invalid_idempotency_key"]),
    429: ("The plan's rate limit over the last 60 seconds is used up; retry after `Retry-After` seconds.",
          ["rate_limited"]),
    502: ("Storage failed, or (on download) the job failed and was refunded: the code is the job's own error code.",
          ["storage_error", "inference_error", "no_face_found", "no_subject_found", "storage_full", "timeout",
           "worker_lost", "queue_timeout", "queue_unavailable", "internal_error", "job_failed"]),
    503: ("The queue is unreachable, no worker is live, the operation's model is not installed, or the web process "
          "is busy checking other uploads; nothing was charged.", ["service_unavailable"]),
    507: ("Storage is full, so the upload could not be kept; nothing was charged.", ["insufficient_storage"]),
}
SUBMISSION_ERRORS = (401, 402, 403, 404, 408, 409, 410, 413, 422, 429, 502, 503, 507)
URL = {"type": "string", "format": "uri", "maxLength": 2000}
OPTION_FIELDS = {
    "image_url": {**URL, "description": "Instead of the image file: an http(s) URL to fetch it from (within the "
                                        "upload limit and IMAGE_URL_TIMEOUT_SECONDS; redirects are not followed; "
                                        "private, loopback and link-local addresses are refused)."},
    "image_job_id": {"type": "string", "maxLength": 36,
                     "description": "Instead of the image file: the result of one of your finished jobs."},
    "webhook_url": {**URL, "description": "Where to POST the job's JSON when it moves (Standard Webhooks, signed "
                                          "with GET /webhooks/secret's key); default: the API key's webhook."},
    "webhook_events": {"type": "string", "pattern": f"^({'|'.join(EVENTS)})(,({'|'.join(EVENTS)}))*$",
                       "description": "Comma-separated events to send (default completed,failed,cancelled)."},
}


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
    elif isinstance(spec, ColorParam):
        schema = {"type": "string", "maxLength": 32,
                  "description": "A colour: #rgb, #rrggbb, #rrggbbaa or a CSS name such as white."}
    elif isinstance(spec, TextParam):
        schema = {"type": "string", "maxLength": int(config[spec.max_chars_setting])}
    else:  # a new parameter type must be described here before it can ship
        raise TypeError(f"no OpenAPI schema for {type(spec).__name__}")
    if spec.default is not None and not spec.optional:
        schema["default"] = spec.default
    if spec.optional:
        schema["description"] = (schema.get("description", "") + " Optional; left out, the server chooses.").strip()
    return schema


def _request_body(operation: Operation, config) -> dict[str, Any]:
    properties: dict[str, Any] = {"image": {**FILE_PART, "description": "PNG, JPEG or WebP, recognised by its bytes "
                                                                        "(or image_url, or image_job_id)."}}
    required = []
    if operation.needs_mask:
        properties["mask"] = {**FILE_PART, "description": "The image's size; white (or opaque) = the area to change."}
        required.append("mask")
    for spec in operation.params:
        properties[spec.name] = _param_schema(spec, config)
    for alias, name in operation.aliases.items():
        properties[alias] = {**properties[name], "deprecated": True, "description": f"The older name of {name}."}
    properties.update(OPTION_FIELDS)
    schema = {"type": "object", "properties": properties, "required": required, "additionalProperties": False,
              "oneOf": [{"required": [source]} for source in ("image", "image_url", "image_job_id")]}
    return {"required": True, "content": {"multipart/form-data": {
        "schema": schema, "encoding": {"image": {"contentType": "image/png, image/jpeg, image/webp"}},
    }}}


def _submission(operation: Operation, config) -> dict[str, Any]:
    cost_note = _cost_note(operation)
    return {"post": {
        "operationId": f"submit_{operation.name.replace('-', '_')}",
        "summary": operation.summary,
        "description": f"{operation.summary} Costs {cost_note}. Answers 202 at once; then follow the job (its "
                       "events, a webhook, or polls) and download the result. With `Prefer: wait`, answers 200 "
                       "with the finished job when it ends within the wait.",
        "tags": ["operations"],
        "parameters": [{"$ref": "#/components/parameters/IdempotencyKey"},
                       {"$ref": "#/components/parameters/RequestId"},
                       {"$ref": "#/components/parameters/Prefer"}],
        "requestBody": _request_body(operation, config),
        "responses": {"200": ok("With Prefer: wait, the job finished within the wait (done, failed or cancelled).",
                                "Job", SUBMITTED_HEADERS),
                      "202": ok("Queued (or, with a replayed Idempotency-Key, the first response).", "Submitted",
                                SUBMITTED_HEADERS),
                      **errors(*SUBMISSION_ERRORS)},
    }}


SUBMITTED_HEADERS = ("X-Request-Id", "RateLimit", "Idempotent-Replayed", *CREDIT_HEADERS, "Preference-Applied")


def _cost_note(operation: Operation) -> str:
    defaults = {spec.name: spec.default for spec in operation.params}
    costs = {operation.cost(defaults)}
    for spec in operation.params:
        for choice in getattr(spec, "choices", ()) or ():
            costs.add(operation.cost({**defaults, spec.name: choice}))
    low, high = min(costs), max(costs)
    return f"{low} credit{'s' * (low != 1)}" if low == high else f"{low}–{high} credits by parameters"


def build_document(app: Flask, server_url: str = "/api/v1") -> dict[str, Any]:
    """The whole document; `server_url` is where /api/v1 is reached from the reader's side."""
    from pixelforge.api.openapi_components import components

    paths: dict[str, Any] = {f"/{name}": _submission(op, app.config) for name, op in OPERATIONS.items()}
    paths.update(job_routes())
    paths.update(webhook_routes())
    plans = ", ".join(f"{plan.name} {plan.rpm}/min" for plan in PLANS.values() if plan.api_access)
    return {
        "openapi": "3.1.0",
        "info": {"title": "PixelForge API", "version": API_VERSION,
                 "description": ("Image AI behind Bearer keys: submit a job, poll it, download the result. "
                                 f"Submissions per minute by plan: {plans}; reads get "
                                 f"{app.config['READ_RATE_MULTIPLIER']}× that. Errors are checked in the order "
                                 "401 → 403 → 413 → 429 → 422 → 402 → 503 (with image_url or image_job_id: "
                                 "422 from the fields → 402 → the fetch → 422 from the image → 503).")},
        "servers": [{"url": server_url}],
        "security": [{"bearerAuth": []}],
        "tags": [{"name": "operations", "description": "Submit a job (multipart form data)."},
                 {"name": "jobs"}, {"name": "account"},
                 {"name": "webhooks", "description": "Signed deliveries of your jobs' events, and their log."}],
        "paths": paths,
        "components": components(ERRORS, JOB_STATUSES, sorted(OPERATIONS)),
    }
