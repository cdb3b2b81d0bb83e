"""GET /api/v1/jobs, /jobs/<id>, /jobs/<id>/download."""
from __future__ import annotations

from flask import Response, request
from flask_login import current_user

from pixelforge.api import bp, caller_row
from pixelforge.api.responses import job_body
from pixelforge.images import EXTENSIONS
from pixelforge.jobs import cancel_job, job_snapshot, list_jobs, read_result
from pixelforge.operations import IntParam

_LIMIT = IntParam("limit", 20, 1, 100)


@bp.get("/jobs")
def list_my_jobs():
    raw_limit = request.args.get("limit")
    limit = _LIMIT.parse(raw_limit) if raw_limit else _LIMIT.default
    jobs, next_cursor = list_jobs(caller_row(), limit, request.args.get("cursor"))
    return {"jobs": [job_body(job, current_user.plan) for job in jobs], "next_cursor": next_cursor}


@bp.get("/jobs/<job_id>")
def show_job(job_id: str):
    return job_body(job_snapshot(current_user, job_id), current_user.plan)


@bp.get("/jobs/<job_id>/download")
def download_job(job_id: str):
    job, data = read_result(current_user, job_id)
    response = Response(data, mimetype=job.result_type or "application/octet-stream")
    if request.args.get("download", "").lower() in ("1", "true", "yes"):
        extension = EXTENSIONS.get(job.result_type, "bin")
        response.headers["Content-Disposition"] = f'attachment; filename="pixelforge-{job.id}.{extension}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.post("/jobs/<job_id>/cancel")
def cancel_my_job(job_id: str):
    return job_body(cancel_job(current_user, job_id), current_user.plan)
