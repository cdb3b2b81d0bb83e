"""Inside a case process: install random weights for one model, and run one job of it the way the worker does
(workers.inference.run_model_engine: the registry's choice, the warm model cache, the engine)."""
from __future__ import annotations

import atexit
import shutil
import tempfile
import time
from pathlib import Path

from PIL import Image

from bench.fixtures import centre_mask, install_model, photo

# registry entry -> (operation, weights size to generate)
MODELS = {
    "realesr-general-x4v3": ("upscale", "real"),
    "realesrgan-x4plus": ("upscale", "real"),
    "gfpgan-1.4": ("restore-face", "real"),
    "lama": ("erase-object", "real"),
    "sd-inpainting": ("inpaint", "tiny"),
    "rembg-u2net": ("remove-background", "stand-in"),
}


class LoadTimer:
    """Wraps workers.inference.warm_model (which the engines look up at call time) to time each model load and
    keep the last model loaded (whose dtype says the precision it really runs at)."""

    def __init__(self):
        import workers.inference as inference

        self.loads: list[float] = []
        self.last_loaded: object | None = None
        original = inference.warm_model

        def timed_warm_model(name, models_dir, kind, load):
            def timed_load(path):
                start = time.perf_counter()
                try:
                    self.last_loaded = load(path)
                    return self.last_loaded
                finally:
                    self.loads.append(time.perf_counter() - start)

            return original(name, models_dir, kind, timed_load)

        inference.warm_model = timed_warm_model


class ModelJob:
    """One model, installed alone into a fresh models folder; job() runs it once on a width×height photo."""

    def __init__(self, model: str, params: dict, width: int, height: int, size: str | None = None):
        from workers.engines.base import EngineInput

        self.model, self.params = model, params
        self.operation, default_size = MODELS[model]
        size = size or default_size
        self.models_dir = Path(tempfile.mkdtemp(prefix="pixelforge-bench-models-"))  # links into the cache
        atexit.register(shutil.rmtree, self.models_dir, True)
        self.weights = install_model(model, self.models_dir, size)
        needs_mask = self.operation in ("erase-object", "inpaint")
        mask = Image.fromarray(centre_mask(width, height, 0.15)) if needs_mask else None
        self.input = EngineInput(Image.fromarray(photo(width, height)), params, mask)
        self.face = photo(512, 512)

    def import_libraries(self) -> float:
        """Seconds to import what the engine imports on first use (a worker imports torch at start anyway)."""
        start = time.perf_counter()
        import spandrel  # noqa: F401
        import torch  # noqa: F401

        if self.operation == "inpaint":
            import diffusers  # noqa: F401
        if self.operation == "remove-background":
            import rembg  # noqa: F401
        return time.perf_counter() - start

    def job(self) -> float:
        """Seconds for one job's engine call."""
        start = time.perf_counter()
        if self.operation == "restore-face":
            self._one_face()
        else:
            from workers.inference import run_model_engine

            output = run_model_engine(self.operation, self.input, self.models_dir)
            if output is None or output.model != self.model:
                raise RuntimeError(f"{self.model} did not serve {self.operation}")
        return time.perf_counter() - start

    def _one_face(self) -> None:
        """GFPGAN on one aligned 512² face through the engine's warm cache (the YuNet detector's weights are not
        generated, so detection and paste-back are not part of this figure)."""
        from workers.inference import warm_model
        from workers.inference.restore_face import load_gfpgan, restore_aligned

        gfpgan = warm_model(self.model, self.models_dir, "spandrel", lambda _folder: load_gfpgan(self.weights))
        restore_aligned(gfpgan, self.face)
