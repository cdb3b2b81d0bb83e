"""inpaint: the masked area repainted from a prompt by Stable Diffusion. Model only: no classical engine."""
from __future__ import annotations

from pixelforge.operations.params import OUTPUT, FloatParam, IntParam, TextParam, ValidationFailed
from pixelforge.operations.spec import ModelEngine, Operation, TimeLimits

NAME = "inpaint"


def steps_that_run(params: dict) -> None:
    if int(params["steps"] * params["strength"]) < 1:
        raise ValidationFailed("steps × strength must be at least 1 (diffusion runs int(steps × strength) steps)",
                               "strength")


OPERATION = Operation(
    name=NAME, title="Inpaint", summary="Replace the masked area with content guided by a prompt.", order=60,
    params=(TextParam("prompt", "high quality photo", "MAX_PROMPT_CHARS", label="Prompt"),
            IntParam("steps", 30, 1, 150, label="Steps"),
            FloatParam("cfg_scale", 7.0, 0.0, 30.0, label="CFG scale",
                       hint="How closely the result follows the prompt."),
            FloatParam("strength", 0.85, 0.0, 1.0, low_exclusive=True, label="Strength",
                       hint="How much of the masked area is repainted (0–1]."),
            IntParam("seed", None, 0, 2**32 - 1, optional=True, empty="random", label="Seed",
                     hint="Leave empty for a random seed; set it to repeat a result."),
            *OUTPUT),
    cost=lambda p: 2, needs_mask=True, extra_checks=(steps_that_run,),
    time_limits=TimeLimits(cpu=1800, gpu=300),
    model=ModelEngine("workers.inference.inpaint:run_inpaint", family="the Stable Diffusion inpainting model",
                      preference=lambda params, device: ("sd-inpainting",),
                      warm_by_loading="workers.inference.inpaint:get_pipeline",
                      warm_params=({"prompt": "", "steps": 2, "strength": 1.0, "seed": 0},)),  # a GPU's short run
)
