"""A job's wire form (the API's job body, and the `data` of its webhooks), from an ORM Job or a plain row."""
from __future__ import annotations

from datetime import datetime, timezone

from pixelforge.jobs import result_expires_at
from pixelforge.models import JobStatus


def iso(moment: datetime | None) -> str | None:
    """ISO-8601 in UTC with microseconds, e.g. 2026-11-25T12:00:00.123456Z."""
    if moment is None:
        return None
    return moment.replace(tzinfo=timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def job_json(job, owner_plan: str, result_url: str | None) -> dict:
    """The job as clients see it; owner_plan sets the result's retention, result_url is where a done job's result
    is fetched (the caller knows how it is reached)."""
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
        "queue_position": None,
        "eta_seconds": None,
        "result_url": None,
        "result": None,
        "error": None,
    }
    if job.status == JobStatus.DONE:
        body["result_url"] = result_url if job.expired_at is None else None
        body["result"] = {"content_type": job.result_type, **(job.info or {})}
        body["result_expires_at"] = iso(result_expires_at(job, owner_plan))
    elif job.status in (JobStatus.FAILED, JobStatus.CANCELLED):
        body["error"] = {"code": job.error_code, "message": job.error_message}
    return body


def stored_result_url(job, api_root: str) -> str:
    """A done job's result URL outside any request: presigned on the store when configured, else the API's
    download under api_root (the site's root as the job's submitter reached it)."""
    from flask import current_app

    if current_app.config["RESULT_URLS"] == "presigned" and job.result_key:
        from pixelforge.storage import get_storage

        url = get_storage().presigned_url(job.result_key, int(current_app.config["RESULT_URL_SECONDS"]),
                                          job.result_type)
        if url:
            return url
    return f"{api_root.rstrip('/')}/api/v1/jobs/{job.id}/download"
