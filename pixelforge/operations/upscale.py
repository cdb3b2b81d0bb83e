"""upscale: a 2x or 4x bigger picture (Real-ESRGAN when a worker has it, else Lanczos and sharpening)."""
from __future__ import annotations

from pixelforge.operations.params import OUTPUT, IntParam
from pixelforge.operations.spec import ClassicalEngine, ModelEngine, Operation, TimeLimits

NAME = "upscale"


def preferred_models(params: dict, device: str) -> tuple[str, ...]:
    scale = int(params.get("scale", 4))
    if scale == 2:
        return ("realesrgan-x2plus",)
    if scale == 4:
        # RRDBNet is ~15x the compute of the compact net: worth it on a GPU, too slow on a CPU.
        order = ("realesrgan-x4plus", "realesr-general-x4v3")
        return order if device == "cuda" else order[::-1]
    return ()


OPERATION = Operation(
    name=NAME, title="Upscale", summary="Upscale an image 2x or 4x.", order=10,
    params=(IntParam("scale", 2, 2, 4, choices=(2, 4), label="Scale"), *OUTPUT),
    cost=lambda p: 1 if p["scale"] == 2 else 2, output_scale=lambda p: p["scale"],
    time_limits=TimeLimits(cpu=600, gpu=180),
    keeps_16_bit=True, keeps_grey=True,
    variants=(("2x", {"scale": 2}), ("4x", {"scale": 4})),
    model=ModelEngine("workers.inference.upscale:run_upscale", family="Real-ESRGAN", preference=preferred_models,
                      spandrel_purpose="SR", warm_params=({"scale": 4}, {"scale": 2})),
    classical=ClassicalEngine("workers.engines.upscale:classical_upscale",
                              "Lanczos resampling and edge-limited sharpening"),
)
