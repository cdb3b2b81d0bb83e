"""GET /metrics: the cluster as Prometheus sees it — queue depth, jobs by outcome, wait and run times, live workers.

Every number comes from what all processes share (SQL and Redis), so any web process answers for the whole cluster
and an autoscaler can add or remove GPU hosts from one scrape. Durations are recorded by the worker as each job
ends (observe_job), into Redis, one bucket per job (made cumulative when scraped: 6 commands per job, not 32).
"""
from __future__ import annotations

import ipaddress

from flask import Blueprint, Flask, abort, current_app, request

from pixelforge.extensions import db

metrics = Blueprint("metrics", __name__)
BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)
HISTOGRAMS = {"queue_wait": "Seconds from submission until a worker started the job",
              "run": "Seconds a worker spent on the job, to its end"}
_KEY = "pixelforge:metrics:{name}:{operation}"
_ENDED_KEY = "pixelforge:metrics:ended-by-device"


def observe_job(redis, operation: str, queue_wait: float | None, run: float | None,
                outcome: tuple[str, str, str] | None = None, pipe=None) -> None:
    """Add one ended job's durations to the shared histograms (one bucket, the count and the sum per histogram;
    cumulative buckets are summed at scrape time), and (engine, device, status) to the count of jobs workers
    ended: one round trip, or in the caller's pipeline."""
    own = pipe is None
    pipe = redis.pipeline(transaction=False) if own else pipe
    if outcome is not None:
        pipe.hincrby(_ENDED_KEY, "|".join((operation, *outcome)), 1)
    for name, seconds in (("queue_wait", queue_wait), ("run", run)):
        if seconds is None:
            continue
        key = _KEY.format(name=name, operation=operation)
        bound = next((bound for bound in BUCKETS if seconds <= bound), None)
        if bound is not None:
            pipe.hincrby(key, f"in:{bound}", 1)
        pipe.hincrby(key, "count", 1)
        pipe.hincrbyfloat(key, "sum", seconds)
    if own:
        pipe.execute()


class ClusterCollector:
    """A prometheus_client collector that reads SQL and Redis at scrape time."""

    def __init__(self, app: Flask):
        self.app = app

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        with self.app.app_context():
            yield from self._jobs()
            try:
                yield from self._queue_and_workers()
                yield from self._histograms()
                yield from self._ended_by_device()
            except Exception:  # Redis down: say so instead of failing the whole scrape
                up = GaugeMetricFamily("pixelforge_redis_up", "1 when Redis answered this scrape")
                up.add_metric([], 0)
                yield up

    def _jobs(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        from pixelforge.models import Job, JobStatus

        rows = db.session.execute(db.select(Job.operation, Job.engine, Job.status, db.func.count())
                                  .group_by(Job.operation, Job.engine, Job.status)).all()
        ended = CounterMetricFamily("pixelforge_jobs", "Jobs that ended, by operation, engine and final status",
                                    labels=["operation", "engine", "status"])
        active = GaugeMetricFamily("pixelforge_jobs_active", "Jobs queued or processing now",
                                   labels=["operation", "status"])
        for operation, engine, status, count in rows:
            if status in JobStatus.FINAL:
                ended.add_metric([operation, engine or "none", status], count)
            else:
                active.add_metric([operation, status], count)
        db.session.remove()
        yield ended
        yield active

    def _queue_and_workers(self):
        from prometheus_client.core import GaugeMetricFamily

        from pixelforge.queue import get_queue, get_redis, job_queue_names, live_worker_info, live_workers

        redis = get_redis()
        depth = GaugeMetricFamily("pixelforge_queue_depth", "Jobs waiting in each queue", labels=["queue"])
        for name in job_queue_names(redis):
            depth.add_metric([name], get_queue(name).count)
        workers = GaugeMetricFamily("pixelforge_workers_live", "Workers that sent a heartbeat recently")
        workers.add_metric([], len(live_workers(redis)))
        yield from self._worker_details(live_worker_info(redis))
        up = GaugeMetricFamily("pixelforge_redis_up", "1 when Redis answered this scrape")
        up.add_metric([], 1)
        yield from (depth, workers, up)

    def _worker_details(self, infos: list[dict]):
        """Per live worker: which model queues it serves and its free GPU memory (what an autoscaler weighs)."""
        from prometheus_client.core import GaugeMetricFamily

        serves = GaugeMetricFamily("pixelforge_worker_model", "1 for each model a live worker serves",
                                   labels=["worker", "host", "device", "model"])
        gpu_free = GaugeMetricFamily("pixelforge_worker_gpu_free_bytes", "Free GPU memory of a live worker",
                                     labels=["worker", "host"])
        for info in infos:
            for model in info.get("models") or {}:
                serves.add_metric([info["name"], info.get("host", ""), info.get("device", ""), model], 1)
            if info.get("gpu"):
                gpu_free.add_metric([info["name"], info.get("host", "")], info["gpu"]["free_bytes"])
        yield serves
        yield gpu_free

    def _ended_by_device(self):
        from prometheus_client.core import CounterMetricFamily

        from pixelforge.queue import get_redis

        family = CounterMetricFamily("pixelforge_worker_jobs", "Jobs workers ended, by operation, engine, device "
                                     "and status", labels=["operation", "engine", "device", "status"])
        for field, count in get_redis().hgetall(_ENDED_KEY).items():
            family.add_metric(field.decode().split("|"), int(count))
        yield family

    def _histograms(self):
        from prometheus_client.core import HistogramMetricFamily

        from pixelforge.operations import OPERATIONS
        from pixelforge.queue import get_redis

        redis = get_redis()
        for name, documentation in HISTOGRAMS.items():
            family = HistogramMetricFamily(f"pixelforge_job_{name}_seconds", documentation, labels=["operation"])
            for operation in OPERATIONS:
                stored = {k.decode(): v.decode() for k, v in redis.hgetall(_KEY.format(name=name,
                                                                                  operation=operation)).items()}
                count = int(stored.get("count", 0))
                buckets, below = [], 0
                for bound in BUCKETS:
                    below += int(stored.get(f"in:{bound}", 0))
                    buckets.append((str(bound), below))
                family.add_metric([operation], buckets + [("+Inf", count)], float(stored.get("sum", 0.0)))
            yield family


def _allowed() -> bool:
    """With METRICS_TOKEN set, that Bearer token; without it, only callers on this host (loopback)."""
    token = current_app.config["METRICS_TOKEN"]
    if token:
        import hmac

        from pixelforge.bearer import bearer_token

        return hmac.compare_digest(bearer_token(request.headers.get("Authorization")) or "", token)
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


@metrics.get("/metrics")
def scrape():
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    if not current_app.config["METRICS_ENABLED"] or not _allowed():
        abort(404)  # not even its existence is shown to the outside
    body = generate_latest(current_app.extensions["pixelforge.metrics"])
    return body, 200, {"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"}


def init_app(app: Flask) -> None:
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry(auto_describe=False)
    registry.register(ClusterCollector(app))
    app.extensions["pixelforge.metrics"] = registry
    from pixelforge.extensions import csrf, limiter

    csrf.exempt(metrics)
    limiter.exempt(metrics)
    app.register_blueprint(metrics)
