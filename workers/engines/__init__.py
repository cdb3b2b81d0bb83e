"""Pick and run the engine for an operation: the model engine when its weights are installed, else classical.

Which engines an operation has is its spec's (pixelforge/operations/<name>.py): dotted paths imported here, on
first use."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from pixelforge.operations import get_operation
from workers.engines.base import EngineError, EngineInput, EngineOutput, load_function


def run_operation(operation: str, inp: EngineInput, models_dir: str | Path) -> EngineOutput:
    """Run operation on inp with the best engine this worker has."""
    from workers.inference import run_model_engine

    spec = get_operation(operation)
    output = run_model_engine(operation, inp, Path(models_dir))
    classical = classical_engine(operation)
    if output is not None and spec.model.then_classical and classical is not None:
        return _classical_after_model(classical, output, inp)
    if output is not None:
        return output
    if classical is None:
        raise EngineError(f"{operation} needs a model that is not installed on this worker")
    return classical(inp)


def classical_engine(operation: str) -> Callable[[EngineInput], EngineOutput] | None:
    """The operation's classical engine (imported now), or None when only a model can run it."""
    spec = get_operation(operation)
    return load_function(spec.classical.engine) if spec.classical is not None else None


def _classical_after_model(classical, restored: EngineOutput, inp: EngineInput) -> EngineOutput:
    """The model's work, then the classical pass on its output (enhance: detail restoration, then colour, exposure
    and contrast)."""
    toned = classical(EngineInput(image=restored.image, params=inp.params, progress=inp.progress))
    return EngineOutput(image=toned.image, engine="model", model=restored.model,
                        info={**restored.info, **toned.info, "tone": "classical"})
