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

CLASSICAL = {"upscale": "Lanczos resampling and edge-limited sharpening",
             "remove-background": "GrabCut segmentation with a soft edge",
             "restore-face": "face detection, denoising and sharpening",
             "enhance": "white balance, contrast (CLAHE), saturation and sharpening",
             "erase-object": "OpenCV Telea inpainting"}
FAMILIES = {"upscale": "Real-ESRGAN", "remove-background": "a background model (rembg)",
            "restore-face": "GFPGAN", "enhance": "Real-ESRGAN", "erase-object": "LaMa",
            "inpaint": "the Stable Diffusion inpainting model"}


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
    from workers.registry import REGISTRY, model_for

    device = "cuda" if any(w.get("device") == "cuda" for w in workers) else "cpu"
    wanted = model_for(operation, params, lambda name: True, device)
    if wanted is None:
        return ""
    names = [wanted, *REGISTRY.get(wanted).requires]
    return f"pixelforge models pull {' '.join(names)}"


def notes_by_variant(workers: list[dict] | None) -> list[tuple[str, str, EngineNote]]:
    """(operation, variant, note) for every tool with its defaults, and upscale at each scale."""
    from pixelforge.operations import OPERATIONS

    rows = []
    for operation in OPERATIONS.values():
        defaults = {spec.name: spec.default for spec in operation.params}
        variants = [({**defaults, "scale": scale}, f"{scale}x") for scale in (2, 4)] \
            if operation.name == "upscale" else [(defaults, "")]
        rows += [(operation.name, label, engine_note(operation.name, params, workers)) for params, label in variants]
    return rows


def engine_note(operation: str, params: dict, workers: list[dict] | None) -> EngineNote:
    """The note for one tool with these parameters, given what live_workers() returned."""
    from pixelforge.routing import MODEL_ONLY, _capable_model

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
    pull = html.escape(_pull_command(operation, params, considered))
    family = FAMILIES.get(operation, "its model")
    if operation in MODEL_ONLY:
        return EngineNote(False, "none", None, f"<strong>Unavailable</strong>: no worker has {family}. An "
                                               f"administrator can install it with <code>{pull}</code>.")
    if operation == "remove-background" and params.get("model"):
        return EngineNote(False, "none", None, f"<strong>Unavailable</strong>: no worker has the "
                                               f"{html.escape(str(params['model']))} model; choose automatic, or "
                                               f"install it with <code>{pull}</code>.")
    return EngineNote(True, "classical", None, f"Runs on the <strong>classical</strong> engine "
                                               f"({CLASSICAL.get(operation, 'no model')}): {family} is not "
                                               f"installed on any worker — <code>{pull}</code> installs it.")


def _described(model: str) -> str:
    from workers.registry import REGISTRY

    try:
        return REGISTRY.get(model).description
    except KeyError:
        return model


def installed_background_models(workers: list[dict] | None) -> list[str]:
    """The background models (API names, e.g. "u2net") some live worker can run: the only ones worth offering."""
    from pixelforge.operations import OPERATIONS
    from pixelforge.routing import _capable_model

    choices = next(spec.choices for spec in OPERATIONS["remove-background"].params if spec.name == "model")
    if workers is None:
        return []
    considered = _considered(workers)
    return [choice for choice in choices if _capable_model("remove-background", {"model": choice}, considered)]
