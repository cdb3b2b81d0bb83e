"""Warm a worker before its first job, so that job runs at warm speed.

Loading a model takes seconds and its first run more (ONNX Runtime's and oneDNN's first-run set-up), and rembg's
import makes numba compile pymatting's functions (over a minute the first time). A worker therefore loads every
model that serves an operation by default here and runs it once on a tiny picture, in its own process after it
starts (the heartbeat already runs, so submissions queue rather than being refused) and never at import time.
numba's compiled functions are cached in <instance>/cache/numba (not in site-packages, which may be read-only or
shared by other installs), so the compile is paid once per instance, not once per worker start.
"""
from __future__ import annotations

import logging
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

log = logging.getLogger(__name__)

TINY_SIDE = 64
# On a GPU the sample is as large as a typical job's picture, so the kernels and FFT plans of larger inputs are set
# up too: after a 64² warm-up an H200's first 1024×768 LaMa job took 0.12 s over a warm one, after 512² 0.03 s
# (bench/gpu_engines.py; the upscalers were within 0.02 s either way), and a 512² run costs hundredths there.
GPU_SIDE = 512


@dataclass(frozen=True)
class WarmedModel:
    name: str
    operation: str
    seconds: float
    error: str | None = None


def use_instance_numba_cache(instance_path: str | Path) -> Path:
    """Point numba's cache at <instance>/cache/numba unless the operator chose a place (NUMBA_CACHE_DIR); must run
    before rembg (and with it pymatting and numba) is imported in this process. Returns the folder in use."""
    chosen = os.environ.get("NUMBA_CACHE_DIR")
    folder = Path(chosen) if chosen else Path(instance_path) / "cache" / "numba"
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["NUMBA_CACHE_DIR"] = str(folder)
    numba_config = sys.modules.get("numba.core.config")
    if numba_config is not None:  # numba already imported (reads the variable once): tell it directly
        numba_config.CACHE_DIR = str(folder)
    return folder


def warm_cases() -> list[tuple[str, dict]]:
    """(operation, params) whose preferred model is warmed, in the operations' order: each spec's warm_params."""
    from pixelforge.operations import OPERATIONS

    return [(op.name, dict(params)) for op in OPERATIONS.values() if op.model for params in op.model.warm_params]


def warm_up(models_dir: str | Path, only: set[str] | None = None) -> list[WarmedModel]:
    """Load and run once every installed model that serves an operation by default on this worker's device (or
    only those named: models installed while the worker runs). A model that fails to warm is reported (its first
    job will load it, or fail with the reason) and the others still warm."""
    from pixelforge.model_registry import installed_model_for

    try:
        from workers.device import device_name

        device = device_name()
    except ImportError:  # no torch: classical engines only
        return []
    warmed: list[WarmedModel] = []
    for operation, params in warm_cases():
        name = installed_model_for(operation, params, Path(models_dir), device)
        if name is None or any(w.name == name for w in warmed) or (only is not None and name not in only):
            continue
        started = time.perf_counter()
        error = None
        try:
            _warm(operation, params, name, Path(models_dir), device)
        except Exception as exc:  # noqa: BLE001 - one broken model must not keep the worker from its queue
            error = f"{type(exc).__name__}: {exc}"
            log.warning("could not warm %s for %s (%s); its first job will try again", name, operation, error)
        warmed.append(WarmedModel(name, operation, time.perf_counter() - started, error))
    return warmed


def _warm(operation: str, params: dict, name: str, models_dir: Path, device: str) -> None:
    """Load the model and run it once; where a run costs too much on the CPU (a diffusion run takes many seconds
    even when tiny), only load it there. On CUDA the short run is a fraction of a second and loads the GPU's
    kernels, which a first job would otherwise pay for (bench/gpu_engines.py measured 1.4-3.3 s extra on an H200
    for the first inpaint job after loading only)."""
    from pixelforge.operations import get_operation
    from workers.engines.base import EngineInput, NoFaceFound, load_function
    from workers.inference import run_model_engine

    spec = get_operation(operation)
    if spec.model.warm_by_loading and device != "cuda":
        load_function(spec.model.warm_by_loading)(name, models_dir)
        return
    side = GPU_SIDE if device == "cuda" else TINY_SIDE
    image, mask = _sample_input(spec.model.warm_picture, spec.needs_mask, side)
    try:
        run_model_engine(operation, EngineInput(image=image, params=dict(params), mask=mask), models_dir)
    except NoFaceFound:  # the detector is warm; the restorer loads with the first real face
        log.info("warm-up found no face in its sample; %s loads with the first face", name)


def _sample_input(picture: str, needs_mask: bool, side: int) -> tuple[Image.Image, Image.Image | None]:
    """A side×side picture ("face": a real one at its own size, so a face restorer runs too), with a mask when the
    operation needs one."""
    if picture == "face":
        from skimage import data

        face = data.astronaut()[0:256, 80:336]  # scikit-image's bundled astronaut: one clear face
        return Image.fromarray(np.ascontiguousarray(face)), None
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8), "RGB")
    if not needs_mask:
        return image, None
    mask = np.zeros((side, side), np.uint8)
    mask[side // 4:side // 2, side // 4:side // 2] = 255
    return image, Image.fromarray(mask, "L")


def describe(warmed: list[WarmedModel], seconds: float) -> str:
    """One log line: what was warmed, how long each took, and what failed."""
    if not warmed:
        return "worker warm: no model installed for this device, classical engines serve (0.0 s)"
    parts = [f"{w.name} ({w.operation}) {w.seconds:.1f} s" + (f" FAILED: {w.error}" if w.error else "")
             for w in warmed]
    return f"worker warm in {seconds:.1f} s: " + "; ".join(parts)


class NewModels:
    """Models installed while the worker runs (`serve`'s first-start pull, `models pull` on a live host): the
    heartbeat notices them, a thread of their own warms them (numba's compile and the model load are not paid by a
    job, and the jobs on the queues this worker already hears go on meanwhile: a first start's compile took 42 s),
    and only then does the heartbeat listen on their queues and publish them. A job for a model still warming
    waits on that model's queue (not_yet_warm, the worker's wait_for_warm_model)."""

    def __init__(self, warm: tuple[str, ...], hears_model_queues: bool = True,
                 on_warm: Callable[[], None] | None = None):
        self.hears_model_queues = hears_model_queues
        self.on_warm = on_warm  # the heartbeat's: listen for the warm models now, not at its next beat
        self.lock = threading.Lock()
        self.warmed, self.pending = set(warm), set()
        self.warming: threading.Thread | None = None
        self.warming_names: set[str] = set()

    def ready(self, installed: tuple[str, ...]) -> tuple[str, ...]:
        """The installed models that are warm; the others are left for warm_pending."""
        with self.lock:
            self.pending = {name for name in installed if name not in self.warmed}
            return tuple(name for name in installed if name in self.warmed)

    def warm_pending(self, models_dir: str) -> None:
        """Start warming the models installed since, unless a warm-up is still at it."""
        with self.lock:
            if not self.pending or (self.warming is not None and self.warming.is_alive()):
                return
            names = self.warming_names = set(self.pending)
            self.warming = threading.Thread(target=self._warm_in_thread, args=(models_dir, names), daemon=True,
                                            name="pixelforge-warm-new-models")
            self.warming.start()

    def not_yet_warm(self, operation: str, params: dict, models_dir: str) -> str | None:
        """The model a job of this operation would run on here, when it was installed while the worker runs and is
        not warm yet (the job came through the general queue: no worker had published the model); its warm-up
        starts now if it has not. None when the model is warm, when a classical engine serves, or when this worker
        never hears model queues (--queues general: it runs every job as it comes)."""
        if not self.hears_model_queues:
            return None
        from pixelforge.model_registry import installed_model_for
        from workers.device import device_name

        model = installed_model_for(operation, params, Path(models_dir), device_name())
        with self.lock:
            if model is None or model in self.warmed:
                return None
            self.pending.add(model)  # the heartbeat may not have noticed it yet
        self.warm_pending(models_dir)
        return model

    def _warm_in_thread(self, models_dir: str, names: set[str]) -> None:
        started = time.monotonic()
        warmed = warm_up(models_dir, only=names)
        log.info("newly installed: %s", describe(warmed, time.monotonic() - started))
        with self.lock:
            self.warmed |= names  # warmed or not (a model that failed to warm is tried by its first job)
            self.pending -= names
        if self.on_warm is not None:
            self.on_warm()
