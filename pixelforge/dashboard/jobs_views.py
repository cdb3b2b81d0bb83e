"""Dashboard job pages: the history, one job (with Cancel while it is active), and the owner-only job pictures."""
from __future__ import annotations

from flask import Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from pixelforge import images, thumbnails
from pixelforge.dashboard import bp, pictures
from pixelforge.dashboard.forms import CancelJobForm
from pixelforge.dashboard.present import explanation, job_facts, readable_params
from pixelforge.errors import PixelForgeError
from pixelforge.jobs import JobAlreadyFinal, JobNotFound, cancel_job, get_job, list_jobs
from pixelforge.models import Job, JobStatus
from pixelforge.operations import OPERATIONS, ValidationFailed
from pixelforge.storage import ObjectMissing, StorageError, get_storage

JOBS_PER_PAGE = 20
IMAGE_KINDS = ("input", "mask", "result")
PREVIEW_KINDS = ("input", "result")


@bp.get("/dashboard/jobs")
@login_required
def jobs():
    cursor = request.args.get("cursor") or None
    try:
        page, next_cursor = list_jobs(current_user, JOBS_PER_PAGE, cursor)
    except ValidationFailed:
        return redirect(url_for("dashboard.jobs"))
    return render_template("jobs.html", title="Jobs", jobs=page, next_cursor=next_cursor, first_page=not cursor,
                           timings=timings, cancel_form=CancelJobForm())


def _owned_job(job_id: str) -> Job:
    try:
        return get_job(current_user, job_id)
    except JobNotFound as exc:
        abort(exc.status)


def _abort_for(exc: PixelForgeError, what: str):
    """A picture's failure as the dashboard answers it: one that is missing or does not decode is simply not there
    (404); anything else answers its own status (503 busy, 502 storage), logged when it is the server's fault."""
    if exc.status == 502:
        current_app.logger.error("could not read %s: %s", what, exc)
    abort(404 if isinstance(exc, (ObjectMissing, ValidationFailed)) else exc.status)


@bp.get("/dashboard/jobs/<job_id>")
@login_required
def job_detail(job_id: str):
    job = _owned_job(job_id)
    operation = OPERATIONS.get(job.operation)
    return render_template("job.html", title=f"Job {job.id[:8]}", job=job, timings=timings(job),
                           active=job.status in JobStatus.ACTIVE, operation=operation,
                           params=readable_params(job.params, operation), facts=job_facts(job), explanation=explanation(job),
                           cancel_form=CancelJobForm())


@bp.post("/dashboard/jobs/<job_id>/cancel")
@login_required
def cancel(job_id: str):
    """Cancel an active job and refund it; back to where the button was."""
    form = CancelJobForm()
    if form.validate_on_submit():
        try:
            job = cancel_job(current_user, job_id)
        except JobNotFound as exc:
            abort(exc.status)
        except JobAlreadyFinal:
            flash("The job had already ended, so there was nothing to cancel.", "info")
        else:
            flash(f"Job {job.id[:8]} is cancelled; its {job.credits} credit(s) were refunded.", "success")
    back = url_for("dashboard.jobs") if request.form.get("back") == "jobs" else url_for("dashboard.job_detail",
                                                                                         job_id=job_id)
    return redirect(back, 303)


def timings(job: Job) -> dict:
    """Seconds spent waiting in the queue and running, where known."""
    waited = (job.started_at - job.created_at).total_seconds() if job.started_at else None
    ran = (job.finished_at - job.started_at).total_seconds() if job.started_at and job.finished_at else None
    return {"waited": waited, "ran": ran}


def _object_key(job: Job, kind: str) -> str | None:
    if kind == "result":
        return job.result_key if job.status == JobStatus.DONE else None
    return job.mask_key if kind == "mask" else job.input_key


def _read_object(key: str | None) -> bytes:
    if not key:
        abort(404)
    try:
        return get_storage().get(key)
    except StorageError as exc:
        _abort_for(exc, key)


def _picture_response(data: bytes, mimetype: str, max_age: int = 3600) -> Response:
    response = Response(data, mimetype=mimetype)
    response.headers["Cache-Control"] = f"private, max-age={max_age}"  # a job's pictures never change
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.get("/dashboard/jobs/<job_id>/<kind>")
@login_required
def job_image(job_id: str, kind: str):
    """The job's input, mask or result, to its owner only; ?download=1 saves it as a file, and for the result
    ?format=png|jpeg|webp converts it first."""
    if kind not in IMAGE_KINDS:
        abort(404)
    job = _owned_job(job_id)
    data = _read_object(_object_key(job, kind))
    if kind == "result" and job.result_type:
        mimetype = job.result_type
    else:
        mimetype = images.ALLOWED_FORMATS.get(images.sniff_format(data) or "", "application/octet-stream")
    wanted = request.args.get("format", "").lower()
    if kind == "result" and wanted in pictures.FORMATS and pictures.FORMATS[wanted] != mimetype:
        data, mimetype = _converted(data, wanted), pictures.FORMATS[wanted]
    response = _picture_response(data, mimetype)
    if request.args.get("download", "").lower() in ("1", "true", "yes"):
        extension = images.EXTENSIONS.get(mimetype, "bin")
        response.headers["Content-Disposition"] = f'attachment; filename="pixelforge-{job.id}-{kind}.{extension}"'
    return response


def _converted(data: bytes, fmt: str) -> bytes:
    try:
        return pictures.converted(data, fmt)
    except PixelForgeError as exc:
        _abort_for(exc, f"a picture to convert to {fmt}")


@bp.get("/dashboard/jobs/<job_id>/preview/<kind>")
@login_required
def job_preview(job_id: str, kind: str):
    """The input or result scaled to fit the screen: what the playground shows first (the full size is a click
    away)."""
    if kind not in PREVIEW_KINDS:
        abort(404)
    job = _owned_job(job_id)
    source_key = _object_key(job, kind)
    if not source_key or job.expired_at is not None:
        abort(404)
    try:
        picture = thumbnails.stored_or_made(job.id, kind, source_key, preview=True)
    except PixelForgeError as exc:
        _abort_for(exc, f"the preview of job {job.id}")
    mimetype = "image/png" if picture.startswith(b"\x89PNG") else "image/jpeg"
    return _picture_response(picture, mimetype)


@bp.get("/dashboard/jobs/<job_id>/thumbnail")
@login_required
def job_thumbnail(job_id: str):
    """A small PNG of the result when there is one, else of the input: made once and stored (thumbnails)."""
    job = _owned_job(job_id)
    kind = "result" if job.status == JobStatus.DONE and job.result_key else "input"
    source_key = _object_key(job, kind)
    if not source_key or job.expired_at is not None:
        abort(404)
    try:
        picture = thumbnails.stored_or_made(job.id, kind, source_key)
    except PixelForgeError as exc:
        _abort_for(exc, f"the thumbnail of job {job.id}")
    return _picture_response(picture, "image/png")
