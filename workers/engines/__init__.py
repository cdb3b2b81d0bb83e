"""Pick and run the engine for an operation: the model engine when its weights are installed, else classical."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from workers.engines.base import EngineError, EngineInput, EngineOutput

ClassicalEngine = Callable[[EngineInput], EngineOutput]


def _classical_engines() -> dict[str, ClassicalEngine]:
    from workers.engines.background import classical_remove_background
    from workers.engines.enhance import classical_enhance
    from workers.engines.erase import classical_erase
    from workers.engines.restore_face import classical_restore_face
    from workers.engines.upscale import classical_upscale

    return {
        "upscale": classical_upscale,
        "remove-background": classical_remove_background,
        "restore-face": classical_restore_face,
        "enhance": classical_enhance,
        "erase-object": classical_erase,
    }


def run_operation(operation: str, inp: EngineInput, models_dir: str | Path) -> EngineOutput:
    """Run operation on inp with the best engine this worker has."""
    from workers.inference import run_model_engine

    output = run_model_engine(operation, inp, Path(models_dir))
    if output is not None and operation == "enhance":
        return _tone_after_restoration(output, inp)
    if output is not None:
        return output
    engine = _classical_engines().get(operation)
    if engine is None:
        raise EngineError(f"{operation} needs a model that is not installed on this worker")
    return engine(inp)


def _tone_after_restoration(restored: EngineOutput, inp: EngineInput) -> EngineOutput:
    """Enhance = the network's detail restoration, then the classical colour, exposure and contrast pass."""
    from workers.engines.enhance import classical_enhance

    toned = classical_enhance(EngineInput(image=restored.image, params=inp.params, progress=inp.progress))
    return EngineOutput(image=toned.image, engine="model", model=restored.model,
                        info={**restored.info, **toned.info, "tone": "classical"})
