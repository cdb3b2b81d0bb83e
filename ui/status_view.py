"""The words of a tool's status panel: progress that tells the truth (queue position, percent, time left), results
in plain words, and errors that stay, say what to do, and link to where the fix is. HTML strings for gr.HTML."""
from __future__ import annotations

import html
from datetime import datetime

from ui.runner import JobView, RunFailed

ERROR_EXPLANATIONS = {
    "no_face_found": "No face was found in this picture, so there was nothing to restore. Try a photo where a face "
                     "is clearly visible.",
    "timeout": "The job ran past its time limit. A smaller picture runs faster.",
    "worker_lost": "The worker running this job stopped. Please run it again.",
    "storage_full": "The server had no room to store the result. Please try again later.",
}
FIXES = {402: ('<a href="/dashboard/credits">See your credits</a>', "credits"),
         503: ('<a href="/dashboard/models">See which models are installed</a>', "models")}


def _panel(kind: str, body: str, role: str = "status") -> str:
    return f'<div class="pf-status pf-status-{kind}" role="{role}" data-state="{kind}">{body}</div>'


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' if count != 1 else ''}"


def idle() -> str:
    return _panel("idle", "<p>Choose a picture, then press Run.</p>")


def sending() -> str:
    return _panel("sending", "<p><strong>Sending</strong> your picture…</p>")


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return (end - start).total_seconds() if start and end else None


def progress(job: JobView, now: datetime) -> str:
    """Queued with its place in the queue, then percent and time left, with the credits at stake."""
    if job.status == "queued":
        place = f"number {job.queue_position} in the queue" if job.queue_position else "in the queue"
        return _panel("queued", f"<p><strong>Queued</strong>: {place}. {_plural(job.credits, 'credit')} "
                                f"reserved; Cancel refunds them.</p><progress aria-label='Waiting to start'>"
                                f"</progress>")
    percent = int(round(job.progress * 100))
    elapsed = _seconds(job.started_at, now)
    left = ""
    if elapsed is not None and 0.05 <= job.progress < 1:
        left = f" · about {max(1, round(elapsed * (1 - job.progress) / job.progress))} s left"
    return _panel("processing", f"<p><strong>Processing</strong>: {percent}%{left}.</p>"
                                f"<progress max='100' value='{percent}' aria-label='Progress'></progress>")


def done(job: JobView) -> str:
    ran = _seconds(job.started_at, job.finished_at)
    took = f" in {ran:.1f} s" if ran is not None else ""
    engine = f"the <strong>{html.escape(job.engine or 'default')}</strong> engine"
    if job.model:
        engine += f" (<code>{html.escape(job.model)}</code>)"
    return _panel("done", f"<p><strong>Done</strong>{took} with {engine}. {_plural(job.credits, 'credit')} "
                          f"charged; your balance is <strong>{job.balance}</strong>. "
                          f'<a href="/dashboard/jobs/{job.id}">Open job {job.id[:8]}</a></p>')


def ended_without_result(job: JobView, public_message: str) -> str:
    """A failed or cancelled job: what happened in plain words, and the refund."""
    refund = f"{_plural(job.credits, 'credit')} {'were' if job.credits != 1 else 'was'} refunded"
    if job.status == "cancelled":
        return _panel("cancelled", f"<p><strong>Cancelled</strong>: {refund}.</p>")
    reason = ERROR_EXPLANATIONS.get(job.error_code or "") or (
        f"The job failed: {html.escape(public_message or 'no result')}.")
    return _panel("error", f"<p><strong>No result.</strong> {reason} {refund}. "
                           f'<a href="/dashboard/jobs/{job.id}">Open job {job.id[:8]}</a></p>', role="alert")


def refused(failure: RunFailed, public_message: str) -> str:
    """A run that could not start: the reason, and a link to the fix where there is one."""
    link = FIXES.get(failure.status, ("", ""))[0]
    message = html.escape(public_message)
    if "`" in message:  # commands in the message read as code
        parts = message.split("`")
        message = "".join(f"<code>{part}</code>" if i % 2 else part for i, part in enumerate(parts))
    return _panel("error", f"<p><strong>{html.escape(failure.title)}.</strong> {_sentence(message)} {link}</p>",
                  role="alert")


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?", ">")) else text + "."


def cancelling() -> str:
    return _panel("cancelling", "<p><strong>Cancelling</strong>…</p>")


def note(message: str) -> str:
    return _panel("idle", f"<p>{message}</p>")
