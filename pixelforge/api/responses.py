"""How API resources look on the wire."""
from __future__ import annotations

from datetime import datetime, timezone

from flask import current_app, url_for

from pixelforge.jobs import result_expires_at
from pixelforge.models import Job, JobStatus, User
from pixelforge.plans import Plan, read_rpm


def iso(moment: datetime | None) -> str | None:
    """ISO-8601 in UTC with microseconds, e.g. 2026-11-25T12:00:00.123456Z."""
    if moment is None:
        return None
    return moment.replace(tzinfo=timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def job_body(job: Job, owner_plan: str) -> dict:
    """The wire form of a job (an ORM Job or a jobs.job_snapshot row); owner_plan sets the result's retention."""
    body = {
        "job_id": job.id,
        "status": job.status,
        "operation": job.operation,
        "params": job.params,
        "engine": job.engine,
        "model": job.model,
        "progress": round(job.progress or 0.0, 4) if job.status != JobStatus.DONE else 1.0,
        "credits": job.credits,
        "refunded": job.refunded,
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at),
        "finished_at": iso(job.finished_at),
        "input": {"width": job.input_width, "height": job.input_height},
        "result_url": None,
        "result": None,
        "error": None,
    }
    if job.status == JobStatus.DONE:
        body["result_url"] = _result_url(job)
        body["result"] = {"content_type": job.result_type, **(job.info or {})}
        body["result_expires_at"] = iso(result_expires_at(job, owner_plan))
        if job.expired_at is not None:
            body["result_url"] = None
    elif job.status in (JobStatus.FAILED, JobStatus.CANCELLED):
        body["error"] = {"code": job.error_code, "message": job.error_message}
    return body


def _result_url(job: Job) -> str:
    """The API's download URL, or with RESULT_URLS=presigned a time-limited URL on the store (when it has one)."""
    if current_app.config["RESULT_URLS"] == "presigned" and job.result_key:
        from pixelforge.storage import get_storage

        url = get_storage().presigned_url(job.result_key, int(current_app.config["RESULT_URL_SECONDS"]),
                                          job.result_type)
        if url:
            return url
    return url_for("api.download_job", job_id=job.id, _external=True)


def account_body(user: User, plan: Plan) -> dict:
    return {
        "email": user.email,
        "plan": plan.name,
        "credits": user.credits,
        "api_access": plan.api_access,
        "rate_limits": {"submissions_per_minute": plan.rpm, "reads_per_minute": read_rpm(plan)},
    }
