"""What one operation is, in one frozen value: its parameters, cost, words, time limits, engines and models.

The web, the playground, the CLI and the worker all read the spec; none of them names an operation. The domain holds
no worker code: engines are dotted strings ("package.module:function") that only a worker imports, when it runs
one, so the web process never imports torch for them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from pixelforge.operations.params import ASCII_SPACE, Param, TextParam, ValidationFailed

ENGINE_PATH = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")  # "package.module:function"
NAME = re.compile(r"[a-z][a-z0-9-]*")  # also a URL path segment and part of a Python endpoint name


@dataclass(frozen=True)
class TimeLimits:
    """Seconds a job may run before it is failed and refunded (config's JOB_TIMEOUTS / GPU_JOB_TIMEOUTS override)."""

    cpu: int  # on a CPU worker, and for a classical engine on any host (it runs at CPU speed everywhere)
    gpu: int  # when a model runs it on a CUDA worker: longer than this there is stuck, not slow


@dataclass(frozen=True)
class ClassicalEngine:
    """The engine that needs no model (OpenCV, NumPy): what serves while no worker has one."""

    engine: str  # "module:function", called with an EngineInput, returning an EngineOutput
    description: str  # what it does, in the dashboard's words ("OpenCV Telea inpainting")


# (params, device "cpu" | "cuda") → registry names to try, best first; the first installed one runs.
ModelPreference = Callable[[dict[str, Any], str], tuple[str, ...]]


@dataclass(frozen=True)
class ModelEngine:
    """The engine that runs a model from pixelforge.model_registry, when a worker has one installed."""

    engine: str  # "module:function", called with (EngineInput, model name, models dir)
    family: str  # the models that serve it, in the dashboard's words ("Real-ESRGAN")
    preference: ModelPreference
    choice_param: str | None = None  # a parameter that names the model outright (the playground offers installed ones)
    spandrel_purpose: str | None = None  # what spandrel must call a custom file's architecture ("SR")
    then_classical: bool = False  # the classical engine also runs, on the model's output (enhance: restore, then tone)
    warm_params: tuple[dict, ...] = ({},)  # parameters a worker runs it with once at start (one run per model)
    warm_picture: str = "noise"  # the warm-up's picture: "noise", or "face" for a model that runs on faces only
    warm_by_loading: str | None = None  # "module:function(name, models dir)": a CPU only loads it


@dataclass(frozen=True)
class Operation:
    """One operation. Register it by defining ``OPERATION = Operation(...)`` in a module of pixelforge/operations/."""

    name: str  # also the URL path under /api/v1
    title: str  # the playground's tab
    summary: str  # one sentence: the API's summary, the playground's help line
    params: tuple[Param, ...]
    cost: Callable[[dict], int]  # credits, from the validated parameters
    time_limits: TimeLimits
    model: ModelEngine | None = None
    classical: ClassicalEngine | None = None  # None: only a model can run it (503 while no live worker has one)
    needs_mask: bool = False
    output_scale: Callable[[dict], int] = lambda params: 1
    keeps_16_bit: bool = False  # its engines take a 16-bit input at 16 bits (a 16-bit PNG stays 16-bit)
    keeps_grey: bool = False  # a greyscale picture's result is stored greyscale (it adds no colour of its own)
    finish: str | None = None  # "module:function(EngineOutput, params)": the result finished as asked, any engine
    variants: tuple[tuple[str, dict], ...] = (("", {}),)  # parameters that change the engine, shown apart
    order: int = 100  # its place among the playground's tabs and the API's routes
    extra_checks: tuple[Callable[[dict], None], ...] = field(default_factory=tuple)
    aliases: dict[str, str] = field(default_factory=dict)  # an older field name → the parameter it now is

    def __post_init__(self) -> None:
        if not NAME.fullmatch(self.name):
            raise ValueError(f"operation name {self.name!r}: lower-case letters, digits and hyphens")
        if self.model is None and self.classical is None:
            raise ValueError(f"{self.name}: an operation needs a model engine, a classical engine or both")
        for dotted in self.dotted_paths():
            if not ENGINE_PATH.fullmatch(dotted):
                raise ValueError(f"{self.name}: {dotted!r} is not a 'package.module:function' path")
        names = {p.name for p in self.params}
        if self.model and self.model.choice_param and self.model.choice_param not in names:
            raise ValueError(f"{self.name}: its model choice {self.model.choice_param!r} is not one of its params")

    def dotted_paths(self) -> list[str]:
        """Every function this spec names for a worker to import."""
        paths = [engine.engine for engine in (self.model, self.classical) if engine is not None]
        paths += [self.finish] if self.finish else []
        paths += [self.model.warm_by_loading] if self.model and self.model.warm_by_loading else []
        return paths

    @property
    def needs_model(self) -> bool:
        return self.classical is None

    @property
    def output_formats(self) -> tuple[str, ...]:
        """The result formats a caller may ask for (its output_format parameter's choices)."""
        return next((p.choices for p in self.params if p.name == "output_format"), ())

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def time_limit(self, device: str) -> int:
        return self.time_limits.gpu if device == "cuda" else self.time_limits.cpu

    def validate(self, form: dict[str, str]) -> dict[str, Any]:
        """Parse form fields into typed params with defaults; unknown fields are refused."""
        form, renamed = self._unalias(form)
        try:
            return self._validate(form)
        except ValidationFailed as exc:
            if exc.param in renamed:  # speak of the field as the caller named it
                raise ValidationFailed(exc.message.replace(exc.param, renamed[exc.param]), renamed[exc.param],
                                       exc.code) from None
            raise

    def _unalias(self, form: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
        renamed = {}
        for alias, name in self.aliases.items():
            if alias in form:
                if name in form:
                    raise ValidationFailed(f"{alias} is the older name of {name}; send one of them", alias,
                                           "duplicate_field")
                form = {(name if key == alias else key): value for key, value in form.items()}
                renamed[name] = alias
        return form, renamed

    def _validate(self, form: dict[str, str]) -> dict[str, Any]:
        known = {p.name for p in self.params}
        for name in form:
            if name not in known:
                allowed = ", ".join(sorted(known)) or "none besides the image"
                raise ValidationFailed(f"unknown parameter {name!r}; this operation takes: {allowed}", name,
                                       "unknown_parameter")
        params: dict[str, Any] = {}
        for spec in self.params:
            raw = form.get(spec.name)
            if raw is None or (raw.strip(ASCII_SPACE) == "" and not isinstance(spec, TextParam)):
                params[spec.name] = None if spec.optional else spec.default
            else:
                params[spec.name] = spec.parse(raw)
        for check in self.extra_checks:
            check(params)
        return params
