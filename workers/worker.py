"""The worker process: an RQ worker that does not fork per job, so models stay loaded between jobs.

RQ's SimpleWorker sends no heartbeat while a job runs, so a thread of ours does: it marks this worker
alive in Redis, stamps the running job's row, and reaps jobs whose own worker went silent. Before it takes its first
job the worker warms its installed models (workers/warmup.py), so that job runs at warm speed.
"""
from __future__ import annotations

import logging
import math
import os
import threading
import time
from dataclasses import dataclass

from flask import Flask
from pixelforge import lifecycle
from pixelforge.extensions import db
from pixelforge.upkeep import requeue_missing_jobs, run_upkeep_once_per_cluster
from pixelforge.models import Job
from pixelforge.queue import (connect_redis, eviction_policy_problem, job_timeout, record_worker_heartbeat,
                              worker_name)
from workers import device
from workers.tasks import CurrentJob
from workers.warmup import NewModels

log = logging.getLogger(__name__)

QUEUE_POLL_SECONDS = 1

@dataclass(frozen=True)
class Listening:
    """What this worker listens for now: the models installed here and their queues (choice: see --queues)."""

    device: str
    models: tuple[str, ...]
    queues: tuple[str, ...]
    started_at: float
    choice: str = "all"

    @classmethod
    def for_models(cls, base: str, models: tuple[str, ...], device: str, started_at: float,
                   choice: str = "all") -> "Listening":
        from workers.capabilities import listen_queues

        models = models if choice != "general" else ()
        return cls(device, models, tuple(listen_queues(base, list(models), choice)), started_at, choice)


class Heartbeat(threading.Thread):
    """Keeps this worker visibly alive (with what it can run) and its current job from being reaped."""

    def __init__(self, app: Flask, redis, name: str, listening: Listening | None = None):
        super().__init__(name="pixelforge-heartbeat", daemon=True)
        self.app, self.redis, self.worker, self.listening = app, redis, name, listening
        self.stopping = threading.Event()
        self.beat_now = threading.Event()  # set to beat before the interval is up (a stop, a model just warmed)
        self.redis_was_down = False
        self.rq_worker = None  # set once the RQ worker exists: its queues follow the models folder
        self.new_models = NewModels(listening.models if listening else (),
                                    hears_model_queues=listening is None or listening.choice != "general",
                                    on_warm=self.beat_now.set)

    def run(self) -> None:
        interval = self.app.config["WORKER_HEARTBEAT_SECONDS"]
        last_upkeep = 0.0
        while not self.stopping.is_set():
            with self.app.app_context():
                reconnected = self.beat()
                if reconnected or time.monotonic() - last_upkeep > self.app.config["UPKEEP_EVERY_SECONDS"]:
                    last_upkeep = time.monotonic()
                    self.upkeep()
            self.beat_now.wait(interval)
            self.beat_now.clear()

    def stop(self) -> None:
        self.stopping.set()
        self.beat_now.set()

    def beat(self) -> bool:
        """Stamp this worker and its job; True when Redis answers again after being down."""
        reconnected = False
        try:
            record_worker_heartbeat(self.redis, self.worker)
            if self.listening is not None:
                self.publish(with_digests=self.is_alive())  # hashing waits for the thread, not the start
            reconnected, self.redis_was_down = self.redis_was_down, False
        except Exception as exc:  # Redis down: keep stamping SQL so our job is not reaped
            self.redis_was_down = True
            log.warning("could not record heartbeat in Redis: %s", exc)
        job_id = CurrentJob.get()
        if job_id:
            try:
                lifecycle.keep_alive(job_id)
            except Exception as exc:
                log.warning("could not stamp heartbeat of job %s: %s", job_id, exc)
        return reconnected

    def publish(self, with_digests: bool) -> None:
        """What this worker can run, for the web tier's admission and routing. A model added or removed since the
        last beat changes the queues it listens on first (the RQ worker reads them at each short poll), then is
        published: routing never names a queue this worker does not yet listen on."""
        from pixelforge.queue import publish_worker_info
        from workers.capabilities import describe

        listening = self.listening
        info = describe(self.app.config["MODELS_DIR"], listening.device, list(listening.queues),
                        listening.started_at, with_digests)
        installed = tuple(info["models"]) if listening.choice != "general" else ()
        ready = self.new_models.ready(installed)  # one installed while we run is warmed before its queue is heard
        if ready != listening.models:
            listening = self.listen_for(ready)
            info["queues"] = list(listening.queues)
        info["models"] = {name: digest for name, digest in info["models"].items() if name in listening.models}
        publish_worker_info(self.redis, self.worker, info)

    def listen_for(self, models: tuple[str, ...]) -> Listening:
        from rq import Queue

        current = self.listening
        self.listening = Listening.for_models(self.app.config["QUEUE_NAME"], models, current.device,
                                              current.started_at, current.choice)
        log.info("models here are now %s; listening on %s", ", ".join(models) or "none",
                 ", ".join(self.listening.queues))
        if self.rq_worker is not None and self.listening.queues:
            queues = [Queue(name, connection=self.redis) for name in self.listening.queues]
            self.rq_worker.queues, self.rq_worker._ordered_queues = queues, list(queues)
        return self.listening

    def upkeep(self) -> None:
        try:
            run_upkeep_once_per_cluster(self.redis, self.app.config["UPKEEP_EVERY_SECONDS"])
        finally:
            db.session.remove()


class UnsafeRedis(RuntimeError):
    """Redis may evict queued jobs and strict startup checks are on."""


def check_redis_policy(app: Flask, redis) -> None:
    """Warn loudly (or, with STRICT_STARTUP_CHECKS, refuse) when Redis could silently drop queued jobs."""
    problem = eviction_policy_problem(redis)
    if problem is None:
        return
    if app.config["STRICT_STARTUP_CHECKS"]:
        raise UnsafeRedis(problem)
    log.warning("!!! %s", problem)


def limit_torch_threads(app: Flask) -> None:
    """Two OpenMP pools on the same cores stall each other: give torch only the cores meant for this worker."""
    threads = app.config["WORKER_TORCH_THREADS"] or max(1, (os.cpu_count() or 2) - 1)
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(threads)


def time_limit(job_id: str, operation: str, meta: dict | None = None) -> int:
    """The job's time limit here, sized for how it will run:

    - GPU_JOB_TIMEOUTS only when a model engine will run it on CUDA; a classical engine (no model installed) runs
      at CPU speed on any host, so it keeps the CPU limit;
    - on a CPU, an upscaler's time grows with the input's pixels (CPU_MODEL_SECONDS_PER_MP, or its _BF16 twin
      where the models run in bf16), so the limit does too when that is longer than the operation's.

    ``meta`` is the queue entry's (params and pixels, see queue.enqueue_job); a job queued without them is read
    from the database.
    """
    from flask import current_app

    from pixelforge.model_registry import installed_model_for

    config = current_app.config
    meta = meta or {}
    params, pixels = meta.get("params"), meta.get("pixels")
    if params is None or pixels is None:
        row = db.session.execute(db.select(Job.params, Job.input_width, Job.input_height)
                                 .where(Job.id == job_id)).first()
        db.session.rollback()  # a read only: leave no transaction open for run_job
        params, pixels = (row.params or {}, (row.input_width or 0) * (row.input_height or 0)) if row else ({}, 0)
    runs_on = device.device_name()
    limit = job_timeout(operation, "cpu")
    per_mp = config[cpu_seconds_per_mp_setting()]
    margin = config["CPU_MODEL_TIME_MARGIN"] * pixels / 1e6
    if runs_on == "cpu" and max(per_mp.values(), default=0) * margin <= limit:
        return limit  # no model could need longer: skip the look-up (most jobs; it runs before each one)
    model = installed_model_for(operation, params, config["MODELS_DIR"], runs_on)
    if runs_on == "cuda":
        return job_timeout(operation, "cuda" if model is not None else "cpu")
    return max(limit, math.ceil(per_mp.get(model, 0) * margin))


def cpu_seconds_per_mp_setting() -> str:
    """Which CPU_MODEL_SECONDS_PER_MP* figures fit the precision this worker's models run at on the CPU."""
    from workers.cpu_precision import cpu_precision

    return "CPU_MODEL_SECONDS_PER_MP_BF16" if cpu_precision() == "bfloat16" else "CPU_MODEL_SECONDS_PER_MP"


def device_sized_worker_class():
    """RQ's SimpleWorker, with each job's time limit sized for how it will run here before it starts."""
    from rq import SimpleWorker
    from rq.worker import WorkerStatus

    class DeviceSizedWorker(SimpleWorker):
        # Poll the queues every second rather than block for minutes: the heartbeat may change which queues this
        # worker listens on (a model added or removed), and RQ reads them again at each poll.
        dequeue_timeout = QUEUE_POLL_SECONDS

        new_models: NewModels | None = None
        models_dir: str = ""
        queue_base: str = "pixelforge"  # QUEUE_NAME: model queues are named after it

        def heartbeat(self, *args, **kwargs):
            # RQ beats at every poll of an idle worker: there models installed since start warming, in a thread
            # of their own (no job pays for it, and the queues this worker hears already are not held up)
            if self.new_models is not None and self.get_state() == WorkerStatus.IDLE:
                self.new_models.warm_pending(self.models_dir)
            return super().heartbeat(*args, **kwargs)

        def execute_job(self, job, queue):
            meta = job.meta or {}
            if self.new_models is not None and meta.get("operation"):
                model = self.new_models.not_yet_warm(meta["operation"], meta.get("params") or {}, self.models_dir)
                if model is not None:
                    self.wait_for_warm_model(job, queue, model)
                    return
            super().execute_job(job, queue)

        def wait_for_warm_model(self, job, queue, model: str) -> None:
            """Hand a job whose model is not warm here yet to that model's queue: this worker hears that queue
            once the model is warm (or another worker that has it warm takes it first), and goes on meanwhile with
            the jobs behind it rather than holding them for the warm-up (numba's compile on a first start: 43 s).
            The queue is new (no worker had published the model), so jobs handed on keep their order. One
            transaction: the job is on exactly one queue whatever happens."""
            from rq import Queue

            from pixelforge.queue import model_queue_name

            target = Queue(model_queue_name(self.queue_base, model), connection=self.connection)
            with self.connection.pipeline() as pipe:
                target.enqueue_job(job, pipeline=pipe)
                pipe.lrem(queue.intermediate_queue_key, 1, job.id)
                pipe.execute()
            log.info("job %s waits on %s until %s is warm here", job.id, target.name, model)

        def perform_job(self, job, queue, *args, **kwargs):
            operation = (job.meta or {}).get("operation")
            if operation:
                job.timeout = time_limit(job.id, operation, job.meta)
            return super().perform_job(job, queue, *args, **kwargs)

    return DeviceSizedWorker


def _warn_about_gpu_providers() -> None:
    try:
        from workers.inference.background import gpu_provider_problem

        problem = gpu_provider_problem(device.device_name())
    except ImportError:  # no torch: classical engines only, nothing to warn about
        return
    if problem:
        log.warning(problem)


def warm_installed_models(app: Flask) -> None:
    """Load (and run once) what this worker's installed models need, so its first job runs at warm speed; the
    heartbeat already runs, so jobs submitted meanwhile queue instead of being refused."""
    from workers.warmup import describe, warm_up

    started = time.monotonic()
    warmed = warm_up(app.config["MODELS_DIR"])
    log.info(describe(warmed, time.monotonic() - started))


def run_worker(app: Flask, burst: bool = False, max_jobs: int | None = None, queues: str = "all") -> None:
    """Work the queues until stopped (or, with burst, until they are empty): the queues of the models installed
    here first, then (unless queues="models") the general one."""
    from rq import Queue

    from workers.cpu_precision import use_cpu_precision
    from workers.inference import describe_runtime
    from pixelforge.model_registry import installed_models
    from workers.warmup import use_instance_numba_cache

    use_instance_numba_cache(app.instance_path)  # before anything imports rembg (and with it numba)
    redis = connect_redis(app.config["REDIS_URL"], socket_timeout=None)
    name = worker_name()
    listening = Listening.for_models(app.config["QUEUE_NAME"], tuple(installed_models(app.config["MODELS_DIR"])),
                                     device.device_name(), time.time(), queues)
    if not listening.queues:
        raise RuntimeError("--queues models, but no model is installed here: nothing to listen for")
    heartbeat = Heartbeat(app, redis, name, listening)
    limit_torch_threads(app)
    use_cpu_precision(app.config["CPU_PRECISION"])
    log.info("worker %s starting: %s", name, describe_runtime())
    _warn_about_gpu_providers()
    check_redis_policy(app, redis)
    heartbeat.beat()
    with app.app_context():
        try:
            requeue_missing_jobs()
        finally:
            db.session.remove()
    heartbeat.start()
    warm_installed_models(app)
    try:
        with app.app_context():
            log.info("worker %s listens on %s", name, ", ".join(listening.queues))
            worker = device_sized_worker_class()([Queue(q, connection=redis) for q in listening.queues],
                                                 connection=redis, name=name)
            worker.new_models, worker.models_dir = heartbeat.new_models, app.config["MODELS_DIR"]
            worker.queue_base = app.config["QUEUE_NAME"]
            heartbeat.rq_worker = worker
            worker.work(burst=burst, max_jobs=max_jobs or app.config["WORKER_MAX_JOBS"], logging_level="WARNING")
    finally:
        # The worker's entry is left to age out (WORKER_ALIVE_SECONDS) rather than removed: a recycled worker
        # (--max-jobs) is back within seconds, and removing it would turn that gap into 503s for submitters.
        heartbeat.stop()
