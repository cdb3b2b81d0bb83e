"""erase-object: what a mask covers filled in from around it (LaMa when a worker has it, else OpenCV Telea)."""
from __future__ import annotations

from pixelforge.operations.params import OUTPUT
from pixelforge.operations.spec import ClassicalEngine, ModelEngine, Operation, TimeLimits

NAME = "erase-object"

OPERATION = Operation(
    name=NAME, title="Erase object", summary="Erase what a mask covers (white = erase).", order=50,
    keeps_grey=True,
    params=OUTPUT, cost=lambda p: 1, needs_mask=True,
    time_limits=TimeLimits(cpu=300, gpu=180),
    model=ModelEngine("workers.inference.erase:run_erase", family="LaMa", preference=lambda params, device: ("lama",),
                      spandrel_purpose="Inpainting"),
    classical=ClassicalEngine("workers.engines.erase:classical_erase", "OpenCV Telea inpainting"),
)
