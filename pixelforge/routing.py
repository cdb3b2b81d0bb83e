"""Which queue a job goes to, and whether it can run at all, from what the live workers publish — never from the
web host's own disk (a web host has no models; a worker host does).

While some live worker can run the job on a model, the job goes to that model's queue, so a classical engine on
another host does not take it; otherwise it goes to the general queue. A job that only a model can run (an
operation with no classical engine, or a model asked for by name) with no capable worker is refused with 503
before anything is charged.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from redis.exceptions import RedisError

from pixelforge.operations import Operation
from pixelforge.queue import QueueUnavailable, get_redis, live_worker_info, model_queue_name


class ModelNotInstalled(QueueUnavailable):
    """No live worker has the model the job needs (HTTP 503, with the command that fixes it)."""


@dataclass(frozen=True)
class Route:
    queue: str
    model: str | None  # the model a capable worker would run it with; None for the general queue


def _capable_model(operation: str, params: dict, workers: list[dict]) -> str | None:
    """The model the best live worker would use: CUDA workers first (their choice is the faster model)."""
    from pixelforge.model_registry import model_for

    for info in sorted(workers, key=lambda w: w.get("device") != "cuda"):
        installed = set(info.get("models") or {})
        model = model_for(operation, params, installed.__contains__, info.get("device", "cpu"))
        if model and model_queue_name(current_app.config["QUEUE_NAME"], model) in info.get("queues", []):
            return model
    return None


def _this_host_as_worker() -> list[dict]:
    """Without any published worker (REQUIRE_LIVE_WORKER off, jobs run in-process), this host's own models."""
    from pixelforge.model_registry import installed_models

    models = installed_models(current_app.config["MODELS_DIR"])
    base = current_app.config["QUEUE_NAME"]
    return [{"device": "cpu", "models": {name: None for name in models}, "queues": [base]}]


def route(operation: Operation, params: dict) -> Route:
    """The queue for this job, or ModelNotInstalled (503) when only a model could run it and no live worker has
    one. Redis trouble surfaces as QueueUnavailable (503) from the caller's readiness check."""
    base = current_app.config["QUEUE_NAME"]
    try:
        workers = live_worker_info(get_redis())
    except RedisError as exc:
        raise QueueUnavailable(f"the job queue is unreachable: {exc}") from exc
    published = bool(workers)
    model = _capable_model(operation.name, params, workers if published else _this_host_as_worker())
    if model is not None:
        return Route(model_queue_name(base, model) if published else base, model)
    _refuse_model_only(operation, params)
    return Route(base, None)


def _refuse_model_only(operation: Operation, params: dict) -> None:
    """ModelNotInstalled when no classical engine may serve: the operation has none, or a model was named."""
    from pixelforge.model_registry import model_for

    wanted = model_for(operation.name, params, lambda name: True, "cuda")
    if operation.needs_model:
        raise ModelNotInstalled(f"{operation.name} needs {operation.model.family} and no live worker has one; "
                                f"install it on a worker host with `pixelforge models pull {wanted}`")
    chosen = operation.model.choice_param if operation.model else None
    if chosen and params.get(chosen):
        raise ModelNotInstalled(f"no live worker has the {params[chosen]} model; install it on a worker host with "
                                f"`pixelforge models pull {wanted or params[chosen]}`, or leave out the {chosen} "
                                "parameter")


def waiting_route(operation: str, params: dict) -> Route:
    """For a model-only job whose capable worker is gone: that model's queue, where a worker that has it (when one
    comes back) finds it; QUEUED_EXPIRE_SECONDS refunds it if none does."""
    from pixelforge.model_registry import model_for

    model = model_for(operation, params, lambda name: True, "cuda") or "unknown"
    return Route(model_queue_name(current_app.config["QUEUE_NAME"], model), model)
