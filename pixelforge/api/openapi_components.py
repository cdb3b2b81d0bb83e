"""The reusable parts of the OpenAPI document: resource schemas, the error body, headers and parameters."""
from __future__ import annotations

from typing import Any

TIMESTAMP = {"type": ["string", "null"], "format": "date-time"}


def _error_schema() -> dict[str, Any]:
    return {"type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "required": ["code", "message", "param", "request_id"],
        "properties": {"code": {"type": "string", "description": "Stable and machine-readable."},
                       "message": {"type": "string", "description": "For people; may change."},
                       "param": {"type": ["string", "null"], "description": "The parameter or file at fault."},
                       "request_id": {"type": "string", "description": "Also in the X-Request-Id header."}}}}}


def _job_schema(statuses: list[str], operations: list[str]) -> dict[str, Any]:
    return {"type": "object", "required": ["job_id", "status", "operation", "params", "progress", "credits",
                                           "refunded", "created_at", "result_url", "error"],
            "properties": {
                "job_id": {"type": "string"},
                "status": {"type": "string", "enum": statuses,
                           "description": "queued and processing are active; done, failed, cancelled are final."},
                "operation": {"type": "string", "enum": operations},
                "params": {"type": "object", "description": "The parameters as validated, defaults filled in."},
                "engine": {"type": ["string", "null"], "enum": ["classical", "model", None]},
                "model": {"type": ["string", "null"]},
                "progress": {"type": "number", "minimum": 0, "maximum": 1},
                "credits": {"type": "integer", "minimum": 0},
                "refunded": {"type": "boolean"},
                "created_at": {"type": "string", "format": "date-time"},
                "started_at": TIMESTAMP, "finished_at": TIMESTAMP, "result_expires_at": TIMESTAMP,
                "input": {"type": "object", "properties": {"width": {"type": ["integer", "null"]},
                                                           "height": {"type": ["integer", "null"]}}},
                "queue_position": {"type": ["integer", "null"], "minimum": 1,
                                   "description": "While queued: 1 = the next job its queue will run."},
                "eta_seconds": {"type": ["number", "null"], "minimum": 0,
                                "description": "While active: seconds until it is likely done, from recent run "
                                               "times."},
                "result_url": {"type": ["string", "null"], "format": "uri"},
                "result": {"type": ["object", "null"],
                           "description": "content_type, and what the engine reports (e.g. faces restored)."},
                "error": {"type": ["object", "null"],
                          "properties": {"code": {"type": ["string", "null"]},
                                         "message": {"type": ["string", "null"]}}},
            }}


def _schemas(statuses: list[str], operations: list[str]) -> dict[str, Any]:
    return {
        "Error": _error_schema(),
        "Job": _job_schema(statuses, operations),
        "Submitted": {"type": "object", "required": ["job_id", "status"],
                      "properties": {"job_id": {"type": "string"}, "status": {"type": "string"}}},
        "JobList": {"type": "object", "required": ["jobs", "next_cursor"],
                    "properties": {"jobs": {"type": "array", "items": {"$ref": "#/components/schemas/Job"}},
                                   "next_cursor": {"type": ["string", "null"]}}},
        **_webhook_schemas(),
        "Account": {"type": "object", "required": ["email", "plan", "credits", "api_access", "rate_limits"],
                    "properties": {"email": {"type": "string"}, "plan": {"type": "string"},
                                   "credits": {"type": "integer"}, "api_access": {"type": "boolean"},
                                   "rate_limits": {"type": "object", "properties": {
                                       "submissions_per_minute": {"type": "integer"},
                                       "reads_per_minute": {"type": "integer"}}}}},
    }


def _webhook_schemas() -> dict[str, Any]:
    nullable_int, text = {"type": ["integer", "null"]}, {"type": ["string", "null"]}
    delivery = {"type": "object",
                "required": ["delivery_id", "job_id", "event", "url", "status", "attempts", "created_at"],
                "properties": {
                    "delivery_id": {"type": "string", "description": "Also the webhook-id header of the message."},
                    "job_id": {"type": "string"},
                    "event": {"type": "string", "enum": ["completed", "failed", "cancelled", "progress"]},
                    "url": {"type": "string"},
                    "status": {"type": "string", "enum": ["pending", "sending", "delivered", "failed"]},
                    "attempts": {"type": "integer", "minimum": 0},
                    "last_status_code": nullable_int, "last_error": text,
                    "next_attempt_at": TIMESTAMP, "created_at": TIMESTAMP, "delivered_at": TIMESTAMP,
                    "payload": {"type": "object", "description": "The message: type, timestamp and the job as data."},
                    "attempt_log": {"type": "array", "items": {"type": "object", "properties": {
                        "number": {"type": "integer"}, "attempted_at": TIMESTAMP, "status_code": nullable_int,
                        "error": text, "duration_ms": {"type": "integer"}}}},
                }}
    return {
        "WebhookSecret": {"type": "object", "required": ["key"],
                          "properties": {"key": {"type": "string", "pattern": "^whsec_"}}},
        "WebhookDelivery": delivery,
        "WebhookDeliveryList": {"type": "object", "required": ["deliveries"], "properties": {
            "deliveries": {"type": "array", "items": {"$ref": "#/components/schemas/WebhookDelivery"}}}},
    }


def _headers() -> dict[str, Any]:
    integer = {"type": "integer"}
    return {
        "X-Request-Id": {"description": "The request's id (yours, echoed, when you sent a valid one).",
                         "schema": {"type": "string"}},
        "X-RateLimit-Limit": {"description": "The plan's requests per 60 s for this kind of request.",
                              "schema": integer},
        "X-RateLimit-Remaining": {"description": "Requests left in the moving 60 s window.", "schema": integer},
        "X-RateLimit-Reset": {"description": "Unix time when the oldest counted request leaves the window.",
                              "schema": integer},
        "Retry-After": {"description": "Seconds to wait before retrying.", "schema": integer},
        "Idempotent-Replayed": {"description": "true when this is the stored first response of an Idempotency-Key.",
                                "schema": {"type": "string", "enum": ["true"]}},
        "X-Credits-Charged": {"description": "Credits this request took (0 for a replay or a refusal).",
                              "schema": integer},
        "X-Credits-Remaining": {"description": "The account's balance after this request.", "schema": integer},
        "Preference-Applied": {"description": "`wait=N` when a Prefer: wait was honoured (RFC 7240).",
                               "schema": {"type": "string"}},
    }


def _error_responses(errors: dict[int, tuple[str, list[str]]]) -> dict[str, Any]:
    responses = {}
    for status, (description, codes) in errors.items():
        headers = {"X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}}
        if status in (429, 503):
            headers["Retry-After"] = {"$ref": "#/components/headers/Retry-After"}
        responses[f"Error{status}"] = {
            "description": f"{description} Codes: {', '.join(codes)}.",
            "headers": headers,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"},
                                             "example": {"error": {"code": codes[0], "message": description,
                                                                   "param": None, "request_id": "req_…"}}}},
            "x-error-codes": codes,
        }
    return responses


def components(errors: dict[int, tuple[str, list[str]]], statuses: list[str], operations: list[str]) -> dict:
    return {
        "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "pfk_…",
                                           "description": "An API key from the dashboard or `pixelforge keys create`."}},
        "schemas": _schemas(statuses, operations),
        "headers": _headers(),
        "parameters": {
            "IdempotencyKey": {"name": "Idempotency-Key", "in": "header", "required": False,
                               "schema": {"type": "string", "maxLength": 255},
                               "description": "A retried submission with the same key returns the first response "
                                              "(and job) instead of charging again; reused with a different "
                                              "request: 409."},
            "Prefer": {"name": "Prefer", "in": "header", "required": False,
                       "schema": {"type": "string", "pattern": "^(.*[ ,;])?wait(=[0-9]+)?([ ,;].*)?$"},
                       "description": "`wait` or `wait=N` (N ≤ 60 seconds): hold the answer until the job is final "
                                      "(200 with the job) or N seconds pass (202 as usual). Holds no server thread "
                                      "while it waits."},
            "RequestId": {"name": "X-Request-Id", "in": "header", "required": False,
                          "schema": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$"},
                          "description": "Your id for this request, echoed back and logged."},
        },
        "responses": _error_responses(errors),
    }
