"""The OpenAPI document's routes other than submissions: jobs (status, live events, download, cancel), the account
and webhooks; and the small builders every route uses."""
from __future__ import annotations

from typing import Any

READ_ERRORS = (401, 403, 429)
RESULT_TYPES = ("image/png", "image/jpeg", "image/webp")
CREDIT_HEADERS = ("X-Credits-Charged", "X-Credits-Remaining")


def errors(*statuses: int) -> dict[str, Any]:
    return {str(status): {"$ref": f"#/components/responses/Error{status}"} for status in statuses}


def ok(description: str, schema_name: str, headers: tuple[str, ...] = ("X-Request-Id", "RateLimit")) -> dict:
    return {"description": description, "headers": header_refs(headers),
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_name}"}}}}


def header_refs(names: tuple[str, ...]) -> dict[str, Any]:
    refs = {}
    for name in names:
        group = ["X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"] if name == "RateLimit" else [name]
        refs.update({header: {"$ref": f"#/components/headers/{header}"} for header in group})
    return refs


JOB_ID = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 36}}
REQUEST_ID = {"$ref": "#/components/parameters/RequestId"}
LIMIT = {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}}

EVENTS_DESCRIPTION = (
    "Server-Sent Events: each event's name is the job's state (queued, processing, progress, done, failed, "
    "cancelled) and its data the job's JSON (`processing` and `progress` events carry job_id, status and "
    "progress only). The first event is the job as it is, with queue_position and eta_seconds while it waits. The stream ends after the final job. Served without the "
    "live layer (a plain WSGI server), it holds the current state only, with `retry:` so EventSource reconnects.")


def _download() -> dict[str, Any]:
    return {"get": {
        "operationId": "download_result", "summary": "The finished job's result image.", "tags": ["jobs"],
        "description": "On an active job, waits up to DOWNLOAD_WAIT_SECONDS (30 by default) for it to finish "
                       "before answering 409, so that submit, then download, yields the image.",
        "parameters": [JOB_ID, REQUEST_ID,
                       {"name": "download", "in": "query", "schema": {"type": "boolean"},
                        "description": "true: served as an attachment with a file name."}],
        "responses": {"200": {"description": "The result's bytes.", "headers": header_refs(("X-Request-Id",)),
                              "content": {kind: {} for kind in RESULT_TYPES}},
                      **errors(*READ_ERRORS, 404, 409, 410, 502)}}}


def job_routes() -> dict[str, Any]:
    return {
        "/jobs": {"get": {
            "operationId": "list_jobs", "summary": "Your jobs, newest first.", "tags": ["jobs"],
            "parameters": [REQUEST_ID, LIMIT,
                           {"name": "cursor", "in": "query", "schema": {"type": "string"},
                            "description": "next_cursor of the previous page."}],
            "responses": {"200": ok("A page of jobs.", "JobList"), **errors(*READ_ERRORS, 422)}}},
        "/jobs/{job_id}": {"get": {
            "operationId": "get_job", "summary": "A job's status, progress, engine and result URL.",
            "description": "A queued job also says its queue_position and eta_seconds (from recent run times).",
            "tags": ["jobs"], "parameters": [JOB_ID, REQUEST_ID],
            "responses": {"200": ok("The job.", "Job"), **errors(*READ_ERRORS, 404)}}},
        "/jobs/{job_id}/events": {"get": {
            "operationId": "job_events", "summary": "The job's progress as a live stream, until it ends.",
            "description": EVENTS_DESCRIPTION, "tags": ["jobs"], "parameters": [JOB_ID, REQUEST_ID],
            "responses": {"200": {"description": "An event stream (text/event-stream).",
                                  "headers": header_refs(("X-Request-Id", "RateLimit")),
                                  "content": {"text/event-stream": {}}},
                          **errors(*READ_ERRORS, 404)}}},
        "/jobs/{job_id}/download": _download(),
        "/jobs/{job_id}/cancel": {"post": {
            "operationId": "cancel_job", "summary": "Cancel a queued or processing job; it is refunded.",
            "tags": ["jobs"], "parameters": [JOB_ID, REQUEST_ID],
            "responses": {"200": ok("The cancelled job.", "Job", ("X-Request-Id", "RateLimit", *CREDIT_HEADERS)),
                          **errors(401, 403, 404, 409, 429)}}},
        "/account": {"get": {
            "operationId": "get_account", "summary": "Your plan, balance and rate limits.", "tags": ["account"],
            "parameters": [REQUEST_ID],
            "responses": {"200": ok("The account.", "Account", ("X-Request-Id", "RateLimit", "X-Credits-Remaining")),
                          **errors(*READ_ERRORS)}}},
    }


def webhook_routes() -> dict[str, Any]:
    delivery_id = {"name": "delivery_id", "in": "path", "required": True,
                   "schema": {"type": "string", "maxLength": 40}}
    return {
        "/webhooks/secret": {"get": {
            "operationId": "get_webhook_secret", "summary": "The key your webhooks are signed with.",
            "description": "Standard Webhooks: each delivery carries webhook-id, webhook-timestamp and "
                           "webhook-signature (`v1,` + base64 HMAC-SHA256 of `id.timestamp.body` under this "
                           "key's base64 part). The dashboard shows the same key.",
            "tags": ["webhooks"], "parameters": [REQUEST_ID],
            "responses": {"200": ok("The signing key.", "WebhookSecret"), **errors(*READ_ERRORS)}}},
        "/webhooks/deliveries": {"get": {
            "operationId": "list_webhook_deliveries", "summary": "Your webhook deliveries, newest first.",
            "tags": ["webhooks"],
            "parameters": [REQUEST_ID, LIMIT, {"name": "job_id", "in": "query", "schema": {"type": "string"},
                                               "description": "Only this job's deliveries."}],
            "responses": {"200": ok("Deliveries.", "WebhookDeliveryList"), **errors(*READ_ERRORS, 422)}}},
        "/webhooks/deliveries/{delivery_id}": {"get": {
            "operationId": "get_webhook_delivery", "summary": "One delivery, its message and its attempt log.",
            "tags": ["webhooks"], "parameters": [delivery_id, REQUEST_ID],
            "responses": {"200": ok("The delivery.", "WebhookDelivery"), **errors(*READ_ERRORS, 404)}}},
        "/webhooks/deliveries/{delivery_id}/redeliver": {"post": {
            "operationId": "redeliver_webhook", "summary": "Send a delivery again (same webhook-id), with a fresh "
                                                           "retry schedule.",
            "tags": ["webhooks"], "parameters": [delivery_id, REQUEST_ID],
            "responses": {"202": ok("Queued again.", "WebhookDelivery"), **errors(401, 403, 404, 429)}}},
    }
