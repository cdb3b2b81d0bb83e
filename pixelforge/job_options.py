"""A submission's fields that are not the operation's parameters: where the image comes from (an upload, an
`image_url`, or `image_job_id`: the result of one of the caller's finished jobs) and who is told when the job
moves (`webhook_url`, `webhook_events`; else the API key's default webhook)."""
from __future__ import annotations

from dataclasses import dataclass

from pixelforge.operations import ValidationFailed

SOURCE_FIELDS = ("image_url", "image_job_id")
WEBHOOK_FIELDS = ("webhook_url", "webhook_events")
FIELDS = SOURCE_FIELDS + WEBHOOK_FIELDS
MAX_URL_CHARS = 2000


@dataclass(frozen=True)
class WebhookTarget:
    url: str
    events: str | None  # comma-separated, None for the default events


@dataclass(frozen=True)
class JobOptions:
    image_url: str | None = None
    image_job_id: str | None = None
    webhook: WebhookTarget | None = None
    public_url: str | None = None  # the site's root as the submitter reached it, for links in webhooks

    @property
    def remote_source(self) -> bool:
        return bool(self.image_url or self.image_job_id)


def take_options(form: dict[str, str], key_webhook: WebhookTarget | None = None,
                 public_url: str | None = None) -> tuple[dict[str, str], JobOptions]:
    """Split the submission's own fields from the operation's: (the operation's form, the options); 422 for a
    malformed URL, an address the server may not reach, or an unknown webhook event."""
    from pixelforge import netguard
    from pixelforge.webhooks import parse_events

    operation_form = {name: value for name, value in form.items() if name not in FIELDS}
    given = {name: form[name].strip() for name in FIELDS if name in form and form[name].strip()}
    if "image_url" in given and "image_job_id" in given:
        raise ValidationFailed("send the image one way: image, image_url or image_job_id", "image_url",
                               "image_source_conflict")
    image_url = given.get("image_url")
    if image_url is not None:
        netguard.check_url(_bounded(image_url, "image_url"), "image_url")
    job_id = given.get("image_job_id")
    if job_id is not None and len(job_id) > 36:
        raise ValidationFailed("image_job_id is not a job id", "image_job_id", "validation_error")
    webhook = key_webhook
    if "webhook_url" in given:
        url = netguard.check_url(_bounded(given["webhook_url"], "webhook_url"), "webhook_url")
        webhook = WebhookTarget(url, parse_events(given.get("webhook_events")))
    elif "webhook_events" in given and key_webhook is not None:
        webhook = WebhookTarget(key_webhook.url, parse_events(given["webhook_events"]))
    elif "webhook_events" in given:
        raise ValidationFailed("webhook_events needs a webhook_url (or a default webhook on the API key)",
                               "webhook_events", "validation_error")
    return operation_form, JobOptions(image_url, job_id, webhook, public_url)


def _bounded(url: str, param: str) -> str:
    if len(url) > MAX_URL_CHARS:
        raise ValidationFailed(f"{param} is longer than {MAX_URL_CHARS} characters", param, "invalid_url")
    return url
