"""GET /api/v1/jobs, /jobs/<id>, /jobs/<id>/events, /jobs/<id>/download; POST /jobs/<id>/cancel."""
from __future__ import annotations

import json

from flask import Response, request
from flask_login import current_user

from pixelforge.eta import estimate
from pixelforge.models import JobStatus
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
    return _live_body(job_snapshot(current_user, job_id))


def _live_body(row) -> dict:
    """The job with where it stands in the queue and its likely time to go (active jobs)."""
    return {**job_body(row, current_user.plan), **estimate(row)}


FOLLOW_HEADER = "X-PixelForge-Follow"  # for the live layer: the job is active, keep the stream open


@bp.get("/jobs/<job_id>/events")
def job_events(job_id: str):
    """The job's current state as one Server-Sent Event. The live layer (pixelforge/live/stream.py) keeps the
    stream open and adds each later event; without it, a client's EventSource reconnects after `retry`."""
    row = job_snapshot(current_user, job_id)
    text = f"retry: 2000\nevent: {row.status}\ndata: {json.dumps(_live_body(row), separators=(',', ':'))}\n\n"
    response = Response(text, mimetype="text/event-stream")
    response.headers["X-Accel-Buffering"] = "no"  # nginx: pass each event on as it comes
    if row.status in JobStatus.ACTIVE:
        response.headers[FOLLOW_HEADER] = "1"
    return response


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
