"""run_job: the one task the queue carries. It loads a job by id, runs its engine, and finishes the row.

The job row decides what happens: a job is only run if this worker moves it from queued to processing,
and only marked done if it is still processing then (a reaper may have failed it meanwhile).
"""
from __future__ import annotations

import logging
import threading
import time

from flask import current_app
from pixelforge import images, lifecycle, thumbnails
from pixelforge.extensions import db
from pixelforge.models import Job, JobStatus
from pixelforge.operations import ValidationFailed, get_operation
from pixelforge.queue import job_timeout
from pixelforge.storage import StorageError, StorageFull, get_storage, job_object_key

log = logging.getLogger(__name__)

PROGRESS_WRITE_INTERVAL = 0.5  # seconds between progress writes; engines may report far more often


class JobStopped(Exception):
    """The job was ended elsewhere (cancelled or reaped) while it ran; stop working on it."""


class CurrentJob:
    """Which job this process is running, for the heartbeat thread."""

    _lock = threading.Lock()
    job_id: str | None = None

    @classmethod
    def set(cls, job_id: str | None) -> None:
        with cls._lock:
            cls.job_id = job_id

    @classmethod
    def get(cls) -> str | None:
        with cls._lock:
            return cls.job_id


def _progress_writer(job_id: str, progress_webhook: bool):
    """The engine's progress callback: a throttled lifecycle.progress (written and announced to live streams); an
    event row (and a progress webhook, when the job asked for one) each PROGRESS_EVENT_STEP."""
    last_write = [time.monotonic()]  # a job shorter than the interval writes no progress at all
    last_step = [0]

    def report(fraction: float) -> None:
        now = time.monotonic()
        if now - last_write[0] < PROGRESS_WRITE_INTERVAL:
            return
        last_write[0] = now
        value = min(max(float(fraction), 0.0), 0.99)
        step = int(value / lifecycle.PROGRESS_EVENT_STEP)
        if not lifecycle.progress(job_id, value, step > last_step[0], progress_webhook):
            raise JobStopped(f"job {job_id} was ended while it ran")
        last_step[0] = max(last_step[0], step)

    return report


def _compute(job_id: str, operation: str, params: dict, input_key: str, mask_key: str | None, progress):
    """Read the inputs, run the operation's engine, store the result as asked: (result key, its bytes, content type,
    output)."""
    from workers.engines import run_operation
    from workers.engines.base import EngineInput
    from workers.output import as_grey, encode, finish

    storage = get_storage()
    source = storage.get(input_key)
    image = images.decode_image(source, "image")
    mask = images.decode_mask(storage.get(mask_key), image.size, "mask") if mask_key else None
    spec = get_operation(operation)
    deep = images.decode_deep(source) if spec.keeps_16_bit else None
    output = run_operation(operation, EngineInput(image=image, params=params, mask=mask, deep=deep, progress=progress),
                           current_app.config["MODELS_DIR"])
    output = finish(operation, output, params)
    if spec.keeps_grey and images.is_greyscale(source):
        output = as_grey(output)
    data, content_type = encode(output, params, current_app.config["PNG_COMPRESS_LEVEL"])
    result_key = job_object_key(job_id, f"result.{images.EXTENSIONS[content_type]}")
    storage.put(result_key, data)
    return result_key, data, content_type, output


def run_job(job_id: str) -> str:
    """Run one job to its end state; returns that state. Never raises for a job's own failure."""
    from rq import get_current_job
    from rq.timeouts import JobTimeoutException

    from workers.engines.base import EngineError

    rq_job = get_current_job()
    worker_name = (rq_job.worker_name if rq_job is not None else None) or "inline"
    job = lifecycle.claim(job_id, worker_name)
    if job is None:
        log.info("job %s is no longer queued; skipping it", job_id)
        db.session.remove()
        return "skipped"
    operation, params, input_key, mask_key = job.operation, dict(job.params), job.input_key, job.mask_key
    has_webhook = bool(job.webhook_url)
    progress = _progress_writer(job_id, has_webhook and "progress" in (job.webhook_events or ""))
    db.session.remove()  # no connection or transaction held open during compute
    CurrentJob.set(job_id)
    try:
        result_key, data, content_type, output = _compute(job_id, operation, params, input_key, mask_key, progress)
        _store_thumbnail(get_storage(), job_id, output, data, content_type)
        return _finish(job_id, result_key, content_type, output, has_webhook)
    except JobStopped:
        log.info("job %s was cancelled or reaped while running; stopped it", job_id)
        return "stopped"
    except JobTimeoutException:
        # the limit the worker enforced (sized for its device)
        timeout = rq_job.timeout if rq_job is not None and rq_job.timeout else job_timeout(operation)
        return _fail(job_id, "timeout", f"the job ran past its {timeout} s time limit; it was refunded")
    except (EngineError, ValidationFailed) as exc:
        code = exc.code if isinstance(exc, EngineError) else "inference_error"  # e.g. no_face_found
        return _fail(job_id, code, f"{exc}; the job was refunded")
    except StorageError as exc:
        code = "storage_full" if isinstance(exc, StorageFull) else "storage_error"
        return _fail(job_id, code, f"{exc}; the job was refunded, please retry later")
    except Exception as exc:  # a bug or an engine crash must still end the job and refund it
        log.exception("job %s crashed", job_id)
        return _fail(job_id, "internal_error", f"the engine failed unexpectedly ({type(exc).__name__}); "
                                               "the job was refunded")
    finally:
        CurrentJob.set(None)
        db.session.remove()


def _store_thumbnail(storage, job_id: str, output, result: bytes, content_type: str) -> None:
    """The dashboard's thumbnail and preview of the result, made here where the result is already decoded (best
    effort: the dashboard makes them itself when they are missing, but decoding a large result there takes
    seconds, and the playground shows the preview the moment the job is done)."""
    try:
        deep = output.deep is not None
        picture = thumbnails.encode_deep(output.deep) if deep else thumbnails.encode(output.image)
        storage.put(thumbnails.thumbnail_key(job_id, "result"), picture)
        preview = (thumbnails.encode_deep_preview(output.deep) if deep
                   else thumbnails.result_preview(output.image, result, content_type))
        storage.put(thumbnails.preview_key(job_id, "result"), preview)
    except (StorageError, OSError, ValueError) as exc:
        log.warning("could not store the thumbnail of job %s: %s", job_id, exc)


def _finish(job_id: str, result_key: str, content_type: str, output, has_webhook: bool = False) -> str:
    info = {**output.info, "width": output.size[0], "height": output.size[1],
            "bit_depth": 16 if output.deep is not None else 8}
    ended = lifecycle.finish(job_id, lifecycle.JobResult(result_key, content_type, output.engine, output.model, info),
                             has_webhook)
    if ended is None:
        log.warning("job %s was ended elsewhere while it ran; discarding its result", job_id)
        try:
            for key in (result_key, *thumbnails.thumbnail_keys(job_id)):
                get_storage().delete(key)
        except StorageError:
            pass
        return "discarded"
    _observe(job_id, ended)
    return JobStatus.DONE


def _fail(job_id: str, code: str, message: str) -> str:
    db.session.rollback()
    lifecycle.fail(job_id, code, message)
    _observe(job_id)
    return JobStatus.FAILED


def _observe(job_id: str, ended=None) -> None:
    """The ended job's queue wait and run time into the cluster's histograms (/metrics) and the ETA's recent runs,
    in one Redis round trip; never fails the job. `ended`: the row's times when the caller has them already."""
    from pixelforge.eta import record_run
    from pixelforge.metrics import observe_job
    from pixelforge.queue import get_redis

    try:
        job = ended if ended is not None else db.session.get(Job, job_id)
        if job is None or job.started_at is None or job.finished_at is None:
            return
        from workers.device import device_name

        run = (job.finished_at - job.started_at).total_seconds()
        pipe = get_redis().pipeline(transaction=False)  # one round trip for the histograms and the ETA's runs
        observe_job(None, job.operation, (job.started_at - job.created_at).total_seconds(), run,
                    (job.engine or "none", device_name(), job.status), pipe)
        if job.status == JobStatus.DONE:
            record_run(pipe, job.operation, run)
        pipe.execute()
    except Exception as exc:  # metrics are worth less than the job: log and go on
        log.warning("could not record metrics for job %s: %s", job_id, exc)
    finally:
        db.session.remove()
