"""Where a submission's image comes from when it is not uploaded: an `image_url` fetched through the outbound
guard (size and time limits; its bytes are then checked like an upload's), or `image_job_id`, the stored result
of one of the caller's own finished jobs (no re-upload)."""
from __future__ import annotations

from flask import current_app

from pixelforge import netguard
from pixelforge.job_options import JobOptions
from pixelforge.models import User
from pixelforge.operations import ValidationFailed


def remote_image(user: User, options: JobOptions) -> tuple[bytes, str]:
    """(the image's bytes, the parameter they came from)."""
    if options.image_url:
        return fetch_image(options.image_url), "image_url"
    return earlier_result(user, options.image_job_id), "image_job_id"


def fetch_image(url: str) -> bytes:
    """The bytes at url (200 only, redirects not followed); 422 with what went wrong."""
    config = current_app.config
    try:
        answer = netguard.get(url, float(config["IMAGE_URL_TIMEOUT_SECONDS"]), int(config["MAX_UPLOAD_BYTES"]))
    except netguard.FetchFailed as exc:
        raise ValidationFailed(f"image_url could not be fetched: {exc}", "image_url", exc.code) from None
    if answer.status != 200:
        hint = " (a redirect: give the final URL)" if 300 <= answer.status < 400 else ""
        raise ValidationFailed(f"image_url answered HTTP {answer.status}{hint}", "image_url", "fetch_failed")
    return answer.body


def earlier_result(user: User, job_id: str) -> bytes:
    """The result of the caller's finished job: 404 for anyone else's (or none), 409 while it runs, 410 once
    deleted, 422 for a job that failed or was cancelled."""
    from pixelforge.jobs import JobHasNoResult, JobNotFinished, read_result

    try:
        _, data = read_result(user, job_id)
    except JobNotFinished:
        raise JobNotFinished(f"job {job_id} (image_job_id) is not finished yet; submit this step once it is "
                             "done") from None
    except JobHasNoResult as exc:
        raise ValidationFailed(f"job {job_id} (image_job_id) was {exc.job.status}; it has no result",
                               "image_job_id", "job_has_no_result") from None
    return data
