"""enhance: colour, exposure, contrast and sharpness, after a Real-ESRGAN restoration at the same size when a
worker has one."""
from __future__ import annotations

from pixelforge.operations.params import OUTPUT
from pixelforge.operations.spec import ClassicalEngine, ModelEngine, Operation, TimeLimits

NAME = "enhance"


def preferred_models(params: dict, device: str) -> tuple[str, ...]:
    # Restore at the same size: an SR net, then downsampled back (see workers/inference/upscale.py). On a GPU the
    # 2x RRDBNet (a quarter of the 4x one's compute); on a CPU the compact net, 4x faster still.
    if device == "cuda":
        return ("realesrgan-x2plus", "realesrgan-x4plus", "realesr-general-x4v3")
    return ("realesr-general-x4v3", "realesrgan-x2plus", "realesrgan-x4plus")


OPERATION = Operation(
    name=NAME, title="Enhance", summary="Improve colour, exposure, contrast and sharpness.", order=40,
    keeps_grey=True,
    params=OUTPUT, cost=lambda p: 1,
    time_limits=TimeLimits(cpu=120, gpu=120),
    model=ModelEngine("workers.inference.upscale:run_enhance", family="Real-ESRGAN", preference=preferred_models,
                      then_classical=True),
    classical=ClassicalEngine("workers.engines.enhance:classical_enhance",
                              "white balance, contrast (CLAHE), saturation and sharpening"),
)
