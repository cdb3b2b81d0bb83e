"""remove-background: the subject cut out (a rembg model when a worker has one, else GrabCut), then finished as
asked: cropped to the subject, the mask alone, or laid on a colour."""
from __future__ import annotations

from pixelforge.operations.params import OUTPUT, BoolParam, ChoiceParam, ColorParam, IntParam
from pixelforge.operations.spec import ClassicalEngine, ModelEngine, Operation, TimeLimits

NAME = "remove-background"
MODEL_PREFIX = "rembg-"  # the API's model names are the registry's without it


def preferred_models(params: dict, device: str) -> tuple[str, ...]:
    wanted = params.get("model")
    if wanted:  # asked for by name: that one or none
        return (wanted if str(wanted).startswith(MODEL_PREFIX) else f"{MODEL_PREFIX}{wanted}",)
    return ("rembg-isnet-general-use", "rembg-u2net")


OPERATION = Operation(
    name=NAME, title="Remove background", order=20,
    summary="Remove the background; returns a transparent image (or one on bg_color, or the mask alone).",
    params=(*OUTPUT,
            ChoiceParam("model", None, ("isnet-general-use", "u2net"), optional=True, label="Background model",
                        hint="Only models installed on a worker are listed; automatic uses the best of them."),
            BoolParam("alpha_matting", False, label="Alpha matting", hint="Finer edges for hair and fur (slower)."),
            ColorParam("bg_color", None, "MAX_PROMPT_CHARS", optional=True, label="Background colour",
                       hint="Empty keeps it transparent; e.g. #ffffff or white."),
            ChoiceParam("channels", "rgba", ("rgba", "alpha"), label="Channels",
                        hint="rgba: the cut-out; alpha: the mask alone."),
            BoolParam("crop", False, label="Crop to the subject"),
            IntParam("crop_margin", 0, 0, 2000, label="Crop margin", hint="Pixels kept around the subject.")),
    cost=lambda p: 1, aliases={"format": "output_format"},
    time_limits=TimeLimits(cpu=300, gpu=300),  # alpha matting and the pre/post-processing run on the CPU even then
    finish="workers.output:cut_out_as_asked",
    model=ModelEngine("workers.inference.background:run_remove_background", family="a background model (rembg)",
                      preference=preferred_models, choice_param="model"),
    classical=ClassicalEngine("workers.engines.background:classical_remove_background",
                              "GrabCut segmentation with a soft edge"),
)
