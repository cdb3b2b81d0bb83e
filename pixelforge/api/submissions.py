"""POST /api/v1/<operation>: one route per catalogue entry, all through submit_job."""
from __future__ import annotations

from flask import jsonify, request
from flask_login import current_user

from pixelforge import idempotency
from pixelforge.api import bp
from pixelforge.jobs import submit_job, validate_submission
from pixelforge.operations import OPERATIONS, Operation, ValidationFailed

FILE_FIELDS = ("image", "mask")


def _read_files() -> dict[str, bytes | None]:
    """The uploaded files; a file field that arrived as text gets a 422 that says why."""
    uploads: dict[str, bytes | None] = {}
    for name in FILE_FIELDS:
        storage = request.files.get(name)
        if storage is not None:
            uploads[name] = storage.read()
        elif name in request.form:
            sample = request.form[name][:40]
            raise ValidationFailed(
                f"{name} arrived as a text field ({sample!r}), not a file. Send the file's bytes as a multipart "
                f"file part (curl: -F '{name}=@photo.jpg'; Python requests: files={{'{name}': f}}; Node: "
                f"form.append('{name}', new Blob([fs.readFileSync(path)]), 'photo.jpg') — a ReadStream is "
                "turned into the text '[object Object]' by the built-in FormData)",
                name, "file_sent_as_text")
        else:
            uploads[name] = None
    return uploads


def _text_fields() -> dict[str, str]:
    fields = {}
    for name, value in request.form.items():
        if name in FILE_FIELDS:
            continue
        if "\ufffd" in value:
            raise ValidationFailed(f"{name} is not valid UTF-8 text", name, "invalid_encoding")
        fields[name] = value
    for name in request.files:
        if name not in FILE_FIELDS:
            raise ValidationFailed(f"unexpected file field {name!r}; only image and mask are files", name,
                                   "unknown_parameter")
    return fields


def _submit(operation: Operation):
    if request.mimetype not in ("multipart/form-data", "application/x-www-form-urlencoded"):
        raise ValidationFailed("send multipart/form-data with the image as a file field named 'image'", "image",
                               "unsupported_media_type")
    uploads = _read_files()
    fields = _text_fields()

    def handle():
        submission = validate_submission(operation, fields, uploads["image"], uploads["mask"], current_user.plan)
        job = submit_job(current_user, submission)
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


def _register(operation: Operation) -> None:
    def view():
        return _submit(operation)

    view.__name__ = f"submit_{operation.name.replace('-', '_')}"
    view.__doc__ = operation.summary
    bp.add_url_rule(f"/{operation.name}", view.__name__, view, methods=["POST"])


for _operation in OPERATIONS.values():
    _register(_operation)
