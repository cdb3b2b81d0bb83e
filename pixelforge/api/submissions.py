"""POST /api/v1/<operation>: one route per registered operation, all through jobs.submit."""
from __future__ import annotations

from flask import g, jsonify, request
from flask_login import current_user

from pixelforge import idempotency
from pixelforge.api import bp
from pixelforge.api.formdata import read_submission
from pixelforge.job_options import WebhookTarget, take_options
from pixelforge.jobs import submit
from pixelforge.key_lookup import key_lookup
from pixelforge.operations import OPERATIONS, Operation, ValidationFailed


def _submit(operation: Operation):
    if request.mimetype not in ("multipart/form-data", "application/x-www-form-urlencoded"):
        raise ValidationFailed("send multipart/form-data with the image as a file field named 'image'", "image",
                               "unsupported_media_type")
    fields, uploads = read_submission()

    def handle():
        key_webhook = key_lookup(request).key_webhook
        operation_fields, options = take_options(fields, WebhookTarget(*key_webhook) if key_webhook else None,
                                                 request.url_root)
        job = submit(current_user, operation, operation_fields, uploads["image"], uploads["mask"], options)
        g.credits_charged = job.credits
        return {"job_id": job.id, "status": job.status}, 202

    key = request.headers.get("Idempotency-Key")
    if key is None:
        return handle()
    stored = idempotency.run_once(current_user.id, key, idempotency.fingerprint(request.path, fields, uploads),
                                  handle)
    response = jsonify(stored.body)
    response.status_code = stored.status_code
    if stored.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


def _view_for(operation: Operation):
    def view():
        return _submit(operation)

    view.__name__ = f"submit_{operation.name.replace('-', '_')}"
    view.__doc__ = operation.summary
    return view


@bp.record
def _register_operations(state) -> None:
    """One POST route per registered operation, added when an app registers the blueprint: by then the app's
    OPERATION_PACKAGES are registered too (create_app runs operations.init_app first)."""
    for operation in OPERATIONS.values():
        view = _view_for(operation)
        state.add_url_rule(f"/{operation.name}", view.__name__, view, methods=["POST"])
