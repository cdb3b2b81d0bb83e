"""restore-face: faces in old or damaged photos restored (GFPGAN when a worker has it, else denoise and sharpen)."""
from __future__ import annotations

from pixelforge.operations.params import OUTPUT, FloatParam
from pixelforge.operations.spec import ClassicalEngine, ModelEngine, Operation, TimeLimits

NAME = "restore-face"

OPERATION = Operation(
    name=NAME, title="Restore face", summary="Restore faces in old or damaged photos.", order=30,
    keeps_grey=True,
    params=(FloatParam("fidelity", 0.7, 0.0, 1.0, label="Fidelity",
                       hint="Higher keeps more of the original face; lower restores more strongly."), *OUTPUT),
    cost=lambda p: 1,
    time_limits=TimeLimits(cpu=300, gpu=120),
    model=ModelEngine("workers.inference.restore_face:run_restore_face", family="GFPGAN",
                      preference=lambda params, device: ("gfpgan-1.4",), spandrel_purpose="FaceSR",
                      warm_params=({"fidelity": 0.5},), warm_picture="face"),
    classical=ClassicalEngine("workers.engines.restore_face:classical_restore_face",
                              "face detection, denoising and sharpening"),
)
