"""The job queue on Redis: connection, enqueueing job ids, which workers are alive and what each can run.

Jobs a model serves go to that model's queue (`<QUEUE_NAME>:model:<name>`), which only workers with the model
installed listen on; everything else goes to `<QUEUE_NAME>`, which every worker listens on (after its model queues).
"""
from __future__ import annotations

import json
import os
import socket
import time
import uuid

from flask import current_app
from redis import Redis
from redis.exceptions import RedisError

from pixelforge.config import RQ_FAILURE_TTL_SECONDS
from pixelforge.errors import Unavailable
from pixelforge.operations import get_operation

WORKERS_KEY = "pixelforge:workers"  # sorted set: worker name → unix time of its last heartbeat
WORKER_INFO_KEY = "pixelforge:worker-info"  # hash: worker name → JSON of what it can run (workers.capabilities)
WORKER_ALIVE_SECONDS = 15.0


class QueueUnavailable(Unavailable, RuntimeError):
    """Redis cannot be reached, or no worker is alive to run the job (HTTP 503)."""


def connect_redis(url: str, socket_timeout: float | None = 5) -> Redis:
    """A client with short timeouts, so a dead Redis becomes a quick 503 rather than a hung request.

    Workers pass socket_timeout=None: RQ blocks on the queue for minutes at a time.
    """
    return Redis.from_url(url, socket_timeout=socket_timeout, socket_connect_timeout=2, health_check_interval=30)


def limits_storage_uri(redis_url: str | None) -> str:
    """flask-limiter's storage URI for a redis-py URL (it spells unix sockets redis+unix://)."""
    if not redis_url:
        return "memory://"
    if redis_url.startswith("unix://"):
        return "redis+unix://" + redis_url[len("unix://"):]
    return redis_url


def get_redis() -> Redis:
    """The app's Redis client, made on first use."""
    client = current_app.extensions.get("pixelforge.redis")
    if client is None:
        url = current_app.config["REDIS_URL"]
        if not url:
            raise QueueUnavailable("no Redis configured: set REDIS_URL or start with `pixelforge serve`")
        client = connect_redis(url)
        current_app.extensions["pixelforge.redis"] = client
    return client


def get_queue(name: str | None = None):
    from rq import Queue

    return Queue(name or current_app.config["QUEUE_NAME"], connection=get_redis())


def model_queue_name(base: str, model: str) -> str:
    return f"{base}:model:{model}"


def job_queue_names(redis: Redis | None = None) -> list[str]:
    """Every queue of ours that RQ knows (the general one first)."""
    from rq import Queue

    base = current_app.config["QUEUE_NAME"]
    names = {queue.name for queue in Queue.all(connection=redis or get_redis())
             if queue.name == base or queue.name.startswith(base + ":model:")}
    return [base, *sorted(names - {base})]


def publish_worker_info(redis: Redis, name: str, info: dict) -> None:
    redis.hset(WORKER_INFO_KEY, name, json.dumps(info))


def live_worker_info(redis: Redis | None = None) -> list[dict]:
    """What each live worker published (name, host, device, models, queues, …); old entries are dropped."""
    redis = redis or get_redis()
    alive = set(live_workers(redis))
    stored = redis.hgetall(WORKER_INFO_KEY)
    infos, stale = [], []
    for raw_name, raw in stored.items():
        worker = raw_name.decode()
        if worker in alive:
            infos.append({"name": worker, **json.loads(raw)})
        elif not redis.zscore(WORKERS_KEY, worker):
            stale.append(worker)
    if stale:
        redis.hdel(WORKER_INFO_KEY, *stale)
    return sorted(infos, key=lambda info: info["name"])


def worker_name() -> str:
    """A job worker's name: host.pid.suffix (unique across restarts; the supervisor finds its own by pid)."""
    return f"{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:6]}"


def taking_jobs_pids(redis: Redis) -> set[int]:
    """Process ids of this host's job workers that take jobs: RQ registers a worker when it starts working its
    queues, which ours do only once their installed models are warm."""
    from rq import Worker

    pids = set()
    for key in Worker.all_keys(connection=redis):
        parts = key.removeprefix(Worker.redis_worker_namespace_prefix).rsplit(".", 2)  # a host name has dots too
        if len(parts) == 3 and parts[0] == socket.gethostname() and parts[1].isdigit():
            pids.add(int(parts[1]))
    return pids


def live_workers(redis: Redis | None = None) -> list[str]:
    """Names of workers that sent a heartbeat within WORKER_ALIVE_SECONDS."""
    redis = redis or get_redis()
    since = time.time() - WORKER_ALIVE_SECONDS
    return [name.decode() for name in redis.zrangebyscore(WORKERS_KEY, since, "+inf")]


def ensure_queue_ready() -> None:
    """Raise QueueUnavailable unless Redis answers and (where required) a worker is alive."""
    try:
        redis = get_redis()
        redis.ping()
        if current_app.config["REQUIRE_LIVE_WORKER"] and not live_workers(redis):
            raise QueueUnavailable("no worker is running to process jobs; start one with `pixelforge worker`")
    except RedisError as exc:
        raise QueueUnavailable(f"the job queue is unreachable: {exc}") from exc


def job_timeout(operation: str, device: str = "cpu") -> int:
    """Seconds a job of this operation may run on a worker with this device: its spec's time limit, unless
    JOB_TIMEOUTS / GPU_JOB_TIMEOUTS override it. The queue carries the CPU limit (any worker may take the job); a
    CUDA worker narrows it to the GPU limit when it starts the job."""
    config, limits = current_app.config, get_operation(operation).time_limits
    limit = int(config["JOB_TIMEOUTS"].get(operation, limits.cpu))
    if device == "cuda":
        return min(limit, int(config["GPU_JOB_TIMEOUTS"].get(operation, limits.gpu)))
    return limit


RUN_JOB = "workers.tasks.run_job"


def enqueue_job(job_id: str, operation: str, params: dict, pixels: int, queue_name: str | None = None) -> None:
    """Put a job id on its queue (routing.queue_for chose it); the worker loads everything else from SQL and
    storage. The meta carries what a worker needs to size the job's time limit before it starts (its operation,
    parameters and input pixels), so that takes no database read. The task is named, not imported: the web
    never loads the worker's code."""
    try:
        get_queue(queue_name).enqueue(RUN_JOB, job_id, job_id=job_id, job_timeout=job_timeout(operation), result_ttl=0,
                            failure_ttl=RQ_FAILURE_TTL_SECONDS, ttl=int(current_app.config["QUEUED_EXPIRE_SECONDS"]),
                            meta={"operation": operation, "params": params, "pixels": pixels})
    except RedisError as exc:
        raise QueueUnavailable(f"the job queue is unreachable: {exc}") from exc


def record_worker_heartbeat(redis: Redis, name: str) -> None:
    redis.zadd(WORKERS_KEY, {name: time.time()})
    redis.zremrangebyscore(WORKERS_KEY, "-inf", time.time() - 24 * 3600)


def queued_job_ids() -> set[str]:
    """Ids waiting on any of our queues right now."""
    try:
        return {job_id for name in job_queue_names() for job_id in get_queue(name).get_job_ids()}
    except RedisError as exc:
        raise QueueUnavailable(f"the job queue is unreachable: {exc}") from exc


def remove_from_queue(job_id: str) -> None:
    """Best effort: a cancelled job left on the queue is skipped by the worker anyway."""
    try:
        for name in job_queue_names():
            get_queue(name).remove(job_id)
    except (RedisError, QueueUnavailable):
        pass


def eviction_policy_problem(redis: Redis) -> str | None:
    """A warning if Redis may evict keys (which silently drops queued jobs), else None."""
    try:
        policy = redis.config_get("maxmemory-policy").get("maxmemory-policy")
    except RedisError as exc:
        return f"could not read Redis's maxmemory-policy ({exc}); make sure it is noeviction"
    if policy != "noeviction":
        return (f"Redis's maxmemory-policy is {policy!r}: under memory pressure it may evict queued jobs; "
                "set maxmemory-policy noeviction")
    return None
