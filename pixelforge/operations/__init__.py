"""The operations the service offers, one spec module each (upscale.py, inpaint.py, …), found by the registry.

Everything else (the API's routes and OpenAPI document, the playground's tabs, `pixelforge models list`, the time
limits, the worker's engine choice and warm-up) is built from these specs; see registry.py for how one is added.
"""
from pixelforge.operations.params import (OUTPUT, OUTPUT_FORMATS, BoolParam, ChoiceParam, ColorParam, FloatParam,
                                          IntParam, Param, TextParam, ValidationFailed)
from pixelforge.operations.registry import (OPERATIONS, DuplicateOperation, OperationRegistry, UnknownOperation,
                                            get_operation, init_app)
from pixelforge.operations.spec import ClassicalEngine, ModelEngine, Operation, TimeLimits

__all__ = ["OUTPUT", "OUTPUT_FORMATS", "BoolParam", "ChoiceParam", "ColorParam", "FloatParam", "IntParam", "Param",
           "TextParam", "ValidationFailed", "OPERATIONS", "DuplicateOperation", "OperationRegistry",
           "UnknownOperation", "get_operation", "init_app", "ClassicalEngine", "ModelEngine", "Operation",
           "TimeLimits"]
