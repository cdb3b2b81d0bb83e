"""How API resources look on the wire."""
from __future__ import annotations

from flask import current_app, url_for

from pixelforge.job_json import iso, job_json  # noqa: F401  (iso: part of this module's interface)
from pixelforge.models import Job, JobStatus, User
from pixelforge.plans import Plan, read_rpm


def job_body(job: Job, owner_plan: str) -> dict:
    """The wire form of a job (an ORM Job or a jobs.job_snapshot row); owner_plan sets the result's retention."""
    return job_json(job, owner_plan, _result_url(job) if job.status == JobStatus.DONE else None)


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
