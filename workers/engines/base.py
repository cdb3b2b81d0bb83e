"""The contract between a job and the engine that runs it.

An engine is a plain function ``run(EngineInput) -> EngineOutput``. It never touches the database,
Redis or storage: the task (workers/tasks.py) decodes inputs, calls the engine and stores what it returns.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from PIL import Image

from pixelforge.errors import PixelForgeError

ProgressCallback = Callable[[float], None]


def load_function(dotted: str) -> Callable:
    """The function an operation's spec names as "package.module:function", imported when a worker first runs it
    (so the web process, which only reads specs, never imports an engine)."""
    module, _, name = dotted.partition(":")
    return getattr(importlib.import_module(module), name)


def _ignore_progress(fraction: float) -> None:
    """Default progress sink for callers that do not track progress."""


@dataclass(frozen=True)
class EngineInput:
    """What an engine works on.

    image: decoded, EXIF-orientation applied, mode "RGB" or "RGBA".
    mask:  mode "L" with values 0 or 255 (255 = the area to change), same size as image, or None.
    deep:  for a 16-bit upload, its full-depth pixels (H×W×3 or ×4 uint16, RGB(A)); engines that can keep
           16 bits work on it and return `deep`, the others use `image` (the same picture at 8 bits).
    params: the validated parameters of the operation (defaults filled in), e.g. {"scale": 4}.
    progress: call with a fraction in [0, 1] as work advances (cheap; the task throttles writes).
    """

    image: Image.Image
    params: dict[str, Any]
    mask: Image.Image | None = None
    progress: ProgressCallback = _ignore_progress
    deep: np.ndarray | None = None


@dataclass
class EngineOutput:
    """What an engine produced and how.

    engine: "classical" or "model".  model: the registry name of the model that ran, or None.
    info: facts worth reporting in the job's result, e.g. {"faces_detected": 2} or {"seed": 42}.
    deep: a 16-bit result (H×W×3 or ×4 uint16, RGB(A)); then `image` may be None and `deep` is what is stored.
    """

    image: Image.Image | None
    engine: str
    model: str | None = None
    info: dict[str, Any] = field(default_factory=dict)
    deep: np.ndarray | None = None

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the result, whichever form it has."""
        if self.deep is not None:
            return self.deep.shape[1], self.deep.shape[0]
        return self.image.size


class EngineUnavailable(RuntimeError):
    """The engine cannot run here (weights or imports missing); the caller picks another or refuses."""


class EngineError(PixelForgeError, RuntimeError):
    """The engine ran and failed on this input; the job fails with this message and `code`, and is refunded."""

    status, code, title = 502, "inference_error", "The job failed"


class NoFaceFound(EngineError):
    """restore-face found no face to restore. The job fails and is refunded (as a background remover refuses a
    photo with no foreground) instead of charging for a photo returned as it came."""

    code = "no_face_found"

    def __init__(self, message: str = "no face was found in this photo; restore-face needs at least one clearly "
                                      "visible face"):
        super().__init__(message)
