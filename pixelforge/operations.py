"""The catalogue of operations: each one's parameters, defaults, validation and credit cost."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from flask import current_app

from pixelforge.errors import PixelForgeError


class ValidationFailed(PixelForgeError):
    """A request parameter is missing, malformed or out of range (HTTP 422)."""

    status, title = 422, "Check your input"

    def __init__(self, message: str, param: str | None = None, code: str = "validation_error"):
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code


# ASCII digits only: int() and float() also take "٤", "４", "+4", "1_0" and "1e1", and each of those was charged.
INTEGER = re.compile(r"-?(0|[1-9][0-9]{0,18})")
DECIMAL = re.compile(r"-?[0-9]{1,19}(\.[0-9]{1,19})?")
ASCII_SPACE = " \t\r\n"


@dataclass(frozen=True)
class IntParam:
    name: str
    default: int | None
    low: int
    high: int
    choices: tuple[int, ...] = ()
    optional: bool = False  # absent means None rather than the default

    def parse(self, raw: str) -> int:
        text = raw.strip(ASCII_SPACE)
        if not INTEGER.fullmatch(text):
            raise ValidationFailed(f"{self.name} must be a whole number in ASCII digits (e.g. 4), got {raw[:40]!r}",
                                   self.name)
        value = int(text)
        if self.choices and value not in self.choices:
            allowed = " or ".join(str(c) for c in self.choices)
            raise ValidationFailed(f"{self.name} must be {allowed}, got {value}", self.name)
        if not self.low <= value <= self.high:
            raise ValidationFailed(f"{self.name} must be between {self.low} and {self.high}, got {value}", self.name)
        return value


@dataclass(frozen=True)
class FloatParam:
    name: str
    default: float
    low: float
    high: float
    low_exclusive: bool = False
    optional: bool = False

    def parse(self, raw: str) -> float:
        text = raw.strip(ASCII_SPACE)
        if not DECIMAL.fullmatch(text):
            raise ValidationFailed(f"{self.name} must be a decimal number in ASCII digits (e.g. 0.5), got "
                                   f"{raw[:40]!r}", self.name)
        value = float(text)
        too_low = value <= self.low if self.low_exclusive else value < self.low
        if too_low or value > self.high:
            opening = "(" if self.low_exclusive else "["
            raise ValidationFailed(f"{self.name} must be in {opening}{self.low}, {self.high}], got {value}", self.name)
        return value


@dataclass(frozen=True)
class ChoiceParam:
    name: str
    default: str
    choices: tuple[str, ...]
    optional: bool = False

    def parse(self, raw: str) -> str:
        value = raw.strip(ASCII_SPACE).lower()
        if value not in self.choices:
            raise ValidationFailed(f"{self.name} must be one of {', '.join(self.choices)}, got {raw[:40]!r}",
                                   self.name)
        return value


@dataclass(frozen=True)
class BoolParam:
    name: str
    default: bool
    optional: bool = False

    def parse(self, raw: str) -> bool:
        value = raw.strip(ASCII_SPACE).lower()
        if value in ("true", "1", "yes", "on"):
            return True
        if value in ("false", "0", "no", "off"):
            return False
        raise ValidationFailed(f"{self.name} must be true or false, got {raw[:40]!r}", self.name)


@dataclass(frozen=True)
class TextParam:
    name: str
    default: str
    max_chars_setting: str  # the config key that bounds its length
    optional: bool = False

    def parse(self, raw: str) -> str:
        limit = current_app.config[self.max_chars_setting]
        if len(raw) > limit:
            raise ValidationFailed(f"{self.name} is {len(raw)} characters; the limit is {limit}", self.name)
        if any(ord(ch) < 32 and ch not in "\t\n\r" for ch in raw):
            raise ValidationFailed(f"{self.name} contains control characters", self.name)
        return raw.strip() or self.default


@dataclass(frozen=True)
class ColorParam(TextParam):
    """A colour: #rgb, #rrggbb, #rrggbbaa or a CSS name; stored as #rrggbb or #rrggbbaa. A text parameter to
    everything that shows parameters (the playground's text box), a colour to validation."""

    def parse(self, raw: str) -> str | None:
        from PIL import ImageColor

        text = raw.strip(ASCII_SPACE).lower()
        if not text:
            return None
        if len(text) > 32 or not re.fullmatch(r"#?[0-9a-f]{3,8}|[a-z]+", text):
            raise ValidationFailed(f"{self.name} must be a colour such as #ffffff or white, got {raw[:40]!r}",
                                   self.name, "invalid_color")
        try:
            rgba = ImageColor.getrgb(text if not re.fullmatch(r"[0-9a-f]{3,8}", text) else "#" + text)
        except ValueError:
            raise ValidationFailed(f"{self.name} must be a colour such as #ffffff or white, got {raw[:40]!r}",
                                   self.name, "invalid_color") from None
        return "#" + "".join(f"{c:02x}" for c in (rgba if len(rgba) == 4 and rgba[3] != 255 else rgba[:3]))


Param = IntParam | FloatParam | ChoiceParam | BoolParam | TextParam


@dataclass(frozen=True)
class Operation:
    name: str  # also the URL path under /api/v1
    summary: str
    params: tuple[Param, ...]
    cost: Callable[[dict], int]
    needs_mask: bool = False
    output_scale: Callable[[dict], int] = lambda params: 1
    extra_checks: tuple[Callable[[dict], None], ...] = field(default_factory=tuple)
    aliases: dict[str, str] = field(default_factory=dict)  # an older field name → the parameter it now is

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


def _inpaint_steps_run(params: dict) -> None:
    if int(params["steps"] * params["strength"]) < 1:
        raise ValidationFailed("steps × strength must be at least 1 (diffusion runs int(steps × strength) steps)",
                               "strength")


OUTPUT_FORMATS = ("png", "jpeg", "webp")
# Every operation's result encoding: alpha is kept where the format has it (PNG, WebP), JPEG is flattened onto
# white (or remove-background's bg_color); the quality applies to JPEG and WebP (PNG is lossless).
OUTPUT = (ChoiceParam("output_format", "png", OUTPUT_FORMATS), IntParam("output_quality", None, 1, 100, optional=True))

OPERATIONS: dict[str, Operation] = {op.name: op for op in (
    Operation("upscale", "Upscale an image 2x or 4x.",
              (IntParam("scale", 2, 2, 4, choices=(2, 4)), *OUTPUT),
              cost=lambda p: 1 if p["scale"] == 2 else 2, output_scale=lambda p: p["scale"]),
    Operation("remove-background", "Remove the background; returns a transparent image (or one on bg_color, or "
                                   "the mask alone).",
              (*OUTPUT,
               ChoiceParam("model", None, ("isnet-general-use", "u2net"), optional=True),
               BoolParam("alpha_matting", False),
               ColorParam("bg_color", None, "MAX_PROMPT_CHARS", optional=True),
               ChoiceParam("channels", "rgba", ("rgba", "alpha")),
               BoolParam("crop", False),
               IntParam("crop_margin", 0, 0, 2000)),
              cost=lambda p: 1, aliases={"format": "output_format"}),
    Operation("restore-face", "Restore faces in old or damaged photos.",
              (FloatParam("fidelity", 0.7, 0.0, 1.0), *OUTPUT), cost=lambda p: 1),
    Operation("enhance", "Improve colour, exposure, contrast and sharpness.", OUTPUT, cost=lambda p: 1),
    Operation("erase-object", "Erase what a mask covers (white = erase).", OUTPUT, cost=lambda p: 1,
              needs_mask=True),
    Operation("inpaint", "Replace the masked area with content guided by a prompt.",
              (TextParam("prompt", "high quality photo", "MAX_PROMPT_CHARS"),
               IntParam("steps", 30, 1, 150),
               FloatParam("cfg_scale", 7.0, 0.0, 30.0),
               FloatParam("strength", 0.85, 0.0, 1.0, low_exclusive=True),
               IntParam("seed", None, 0, 2**32 - 1, optional=True), *OUTPUT),
              cost=lambda p: 2, needs_mask=True, extra_checks=(_inpaint_steps_run,)),
)}


class UnknownOperation(LookupError):
    """No operation has that name."""


def get_operation(name: str) -> Operation:
    try:
        return OPERATIONS[name]
    except KeyError:
        raise UnknownOperation(f"unknown operation {name!r}") from None
