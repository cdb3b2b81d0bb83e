"""What reading, downloading or cancelling a job can refuse; each error says its own HTTP status and code."""
from __future__ import annotations

from pixelforge.errors import Conflict, NotFound, PixelForgeError
from pixelforge.models import Job, JobStatus


class JobNotFound(NotFound, LookupError):
    """No job with that id belongs to the caller (HTTP 404: others' jobs are indistinguishable)."""

    code, public_message = "job_not_found", "job not found"


class JobNotFinished(Conflict):
    """The job has no result yet (HTTP 409)."""

    code = "job_not_finished"


class JobHasNoResult(PixelForgeError):
    """The job failed (HTTP 502, with the job's own error code) or was cancelled (409): nothing to download."""

    def __init__(self, job: Job):
        super().__init__(job.error_message or f"job {job.id} is {job.status}")
        self.job = job
        failed = job.status == JobStatus.FAILED
        self.status = 502 if failed else 409
        self.code = (job.error_code or "job_failed") if failed else f"job_{job.status}"

    def api_message(self) -> str:
        if self.job.status == JobStatus.FAILED:
            return self.job.error_message or "the job failed"
        return f"job {self.job.id} was {self.job.status}; it has no result"


class JobAlreadyFinal(Conflict):
    """The job has already ended, so it cannot be cancelled (HTTP 409)."""

    code = "job_already_final"


class ResultExpired(PixelForgeError):
    """The result was deleted after the retention period (HTTP 410)."""

    status, code, title = 410, "result_expired", "Result deleted"
