"""The parameter types an operation takes (each parses and checks one form field) and the refusal they raise."""
from __future__ import annotations

import re
from dataclasses import dataclass

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
    label: str = ""  # the playground's words for it
    hint: str = ""  # …and its one-line help
    empty: str = "default"  # what an optional one's empty box says it means (a seed: "random")

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
    label: str = ""
    hint: str = ""

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
    label: str = ""
    hint: str = ""

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
    label: str = ""
    hint: str = ""

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
    label: str = ""
    hint: str = ""

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


OUTPUT_FORMATS = ("png", "jpeg", "webp")
# Every operation's result encoding: alpha is kept where the format has it (PNG, WebP), JPEG is flattened onto
# white (or a bg_color parameter's colour); the quality applies to JPEG and WebP (PNG is lossless).
OUTPUT = (ChoiceParam("output_format", "png", OUTPUT_FORMATS, label="Output format",
                      hint="PNG is lossless; WebP is smaller."),
          IntParam("output_quality", None, 1, 100, optional=True, label="Output quality",
                   hint="JPEG and WebP only (1–100); empty: 92 for JPEG, 90 for WebP."))
