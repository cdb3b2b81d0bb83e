"""What will run, said before anything runs: for an operation and its parameters, the engine the live workers
would use and why, in words, with the command that installs a missing model. The playground shows it on each
tool, the dashboard's models page for all of them. Decided as routing decides it (routing._capable_model over
queue.live_worker_info), so the words and the job agree.
"""
from __future__ import annotations

import html
from dataclasses import dataclass

from flask import current_app
from redis.exceptions import RedisError

from pixelforge.operations import OPERATIONS, Operation, get_operation


@dataclass(frozen=True)
class EngineNote:
    available: bool  # False: a run would be refused (no worker, or a model-only tool without its model)
    engine: str  # "model", "classical" or "none"
    model: str | None
    html: str  # one sentence for a person, with the fixing command in <code>

    @property
    def text(self) -> str:
        return html.unescape(self.html.replace("<code>", "").replace("</code>", "").replace("<strong>", "")
                             .replace("</strong>", ""))


def live_workers() -> list[dict] | None:
    """What the live workers published; [] when none is alive; None when Redis cannot be asked."""
    from pixelforge.queue import live_worker_info

    try:
        return live_worker_info()
    except RedisError:
        return None


def _considered(workers: list[dict]) -> list[dict]:
    """Without published workers and REQUIRE_LIVE_WORKER off (tests, jobs in-process): this host's models."""
    from pixelforge.routing import _this_host_as_worker

    if workers or current_app.config["REQUIRE_LIVE_WORKER"]:
        return workers
    return _this_host_as_worker()


def _pull_command(operation: str, params: dict, workers: list[dict]) -> str:
    from pixelforge.model_registry import REGISTRY, model_for

    device = "cuda" if any(w.get("device") == "cuda" for w in workers) else "cpu"
    wanted = model_for(operation, params, lambda name: True, device)
    if wanted is None:
        return ""
    names = [wanted, *REGISTRY.get(wanted).requires]
    return f"pixelforge models pull {' '.join(names)}"


def notes_by_variant(workers: list[dict] | None) -> list[tuple[str, str, EngineNote]]:
    """(operation, variant, note) for every tool with its defaults, in each of its spec's variants (e.g. a scale)."""
    return [(operation.name, label, engine_note(operation.name, {**operation.defaults(), **params}, workers))
            for operation in OPERATIONS.values() for label, params in operation.variants]


def engine_note(operation: str, params: dict, workers: list[dict] | None) -> EngineNote:
    """The note for one tool with these parameters, given what live_workers() returned."""
    from pixelforge.routing import _capable_model

    if workers is None:
        return EngineNote(False, "none", None, "The job queue cannot be reached right now, so nothing can run. "
                                               "Try again in a minute.")
    considered = _considered(workers)
    if not considered:
        return EngineNote(False, "none", None, "No worker is running, so nothing can run now. An administrator "
                                               "can start one with <code>pixelforge worker</code>.")
    model = _capable_model(operation, params, considered)
    if model is not None:
        return EngineNote(True, "model", model, f"Runs on a model: <strong>{html.escape(_described(model))}"
                                                f"</strong> (<code>{html.escape(model)}</code>).")
    return _without_model(get_operation(operation), params, considered)


def _without_model(spec: Operation, params: dict, considered: list[dict]) -> EngineNote:
    """The note when no live worker has a model for the job: classical, or unavailable with the fixing command."""
    if spec.model is None:
        return EngineNote(True, "classical", None, f"Runs on the <strong>classical</strong> engine "
                                                   f"({spec.classical.description}).")
    pull = html.escape(_pull_command(spec.name, params, considered))
    family = spec.model.family
    if spec.needs_model:
        return EngineNote(False, "none", None, f"<strong>Unavailable</strong>: no worker has {family}. An "
                                               f"administrator can install it with <code>{pull}</code>.")
    chosen = spec.model.choice_param
    if chosen and params.get(chosen):
        return EngineNote(False, "none", None, f"<strong>Unavailable</strong>: no worker has the "
                                               f"{html.escape(str(params[chosen]))} model; choose automatic, or "
                                               f"install it with <code>{pull}</code>.")
    return EngineNote(True, "classical", None, f"Runs on the <strong>classical</strong> engine "
                                               f"({spec.classical.description}): {family} is not "
                                               f"installed on any worker — <code>{pull}</code> installs it.")


def _described(model: str) -> str:
    from pixelforge.model_registry import REGISTRY

    try:
        return REGISTRY.get(model).description
    except KeyError:
        return model


def installed_model_choices(operation: str, workers: list[dict] | None) -> list[str]:
    """The values of the operation's model-choice parameter (e.g. a background model's "u2net") that some live
    worker can run: the only ones worth offering."""
    from pixelforge.routing import _capable_model

    spec = get_operation(operation)
    chosen = spec.model.choice_param if spec.model else None
    if workers is None or chosen is None:
        return []
    choices = next(param.choices for param in spec.params if param.name == chosen)
    considered = _considered(workers)
    return [choice for choice in choices if _capable_model(operation, {chosen: choice}, considered)]
