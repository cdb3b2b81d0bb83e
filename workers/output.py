"""A job's result as its submitter asked for it: the operation's finishing, when its spec names one (a cut-out
cropped to the subject, the mask alone, a background colour), and then the encoding (output_format,
output_quality).

Engines return the cut-out as RGBA and know nothing of these options, so every engine, model or classical, gets
them the same way.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
from PIL import Image, ImageColor

from pixelforge import images
from pixelforge.operations import get_operation
from workers.engines.base import EngineOutput, load_function

SUBJECT_ALPHA = 8  # alpha above this counts as subject when cropping (soft edges below it are halo)


def finish(operation: str, output: EngineOutput, params: dict) -> EngineOutput:
    """The engine's output with the operation's finishing options applied."""
    step = get_operation(operation).finish
    if step is None or output.image is None:
        return output
    return load_function(step)(output, params)


def cut_out_as_asked(output: EngineOutput, params: dict) -> EngineOutput:
    """An RGBA cut-out cropped to its subject, reduced to its mask, or laid on a colour, as the params ask."""
    image, info = output.image.convert("RGBA"), dict(output.info)
    if params.get("crop"):
        image, info["crop"] = crop_to_subject(image, int(params.get("crop_margin") or 0))
    if params.get("channels") == "alpha":
        image = image.getchannel("A")
    elif params.get("bg_color"):
        image = on_background(image, params["bg_color"])
    return replace(output, image=image, info=info)


def crop_to_subject(image: Image.Image, margin: int) -> tuple[Image.Image, list[int] | None]:
    """The RGBA image cut to its subject's box grown by margin pixels (within the image); the box, or None when
    there is no subject (the image is kept whole)."""
    alpha = np.asarray(image.getchannel("A"))
    rows, cols = np.nonzero(alpha > SUBJECT_ALPHA)
    if rows.size == 0:
        return image, None
    box = [max(0, int(cols.min()) - margin), max(0, int(rows.min()) - margin),
           min(image.width, int(cols.max()) + 1 + margin), min(image.height, int(rows.max()) + 1 + margin)]
    return image.crop(tuple(box)), box


def on_background(image: Image.Image, colour: str) -> Image.Image:
    """The cut-out laid over a colour: opaque (RGB) for an opaque colour, RGBA for a translucent one."""
    rgba = ImageColor.getrgb(colour)
    rgba = rgba if len(rgba) == 4 else (*rgba, 255)
    background = Image.new("RGBA", image.size, rgba)
    combined = Image.alpha_composite(background, image)
    return combined.convert("RGB") if rgba[3] == 255 else combined


def as_grey(output: EngineOutput) -> EngineOutput:
    """A greyscale picture's result, back in grey as Real-ESRGAN's own inference returns one: the luma (ITU-R 601,
    Pillow's "L") of what the engine made, alpha kept. As PNG 40 % of the bytes (a 1024² photo), and no tint a
    model trained on colour photos may have added. A 16-bit result with alpha stays RGBA (OpenCV writes no
    grey-and-alpha PNG)."""
    image = output.image
    if image is not None and image.mode in ("RGB", "RGBA"):
        image = image.convert("LA" if image.mode == "RGBA" else "L")
    deep = output.deep
    if deep is not None and deep.ndim == 3 and deep.shape[2] == 3:
        luma = deep[..., 0] * np.float32(0.299) + deep[..., 1] * np.float32(0.587) + deep[..., 2] * np.float32(0.114)
        deep = np.rint(luma).clip(0, 65535).astype(np.uint16)
    return replace(output, image=image, deep=deep)


def encode(output: EngineOutput, params: dict, png_compress_level: int) -> tuple[bytes, str]:
    """(bytes, content type) in the asked format: PNG keeps 16 bits and alpha, WebP keeps alpha, JPEG is flattened
    onto white."""
    fmt = params.get("output_format") or params.get("format") or "png"
    if output.deep is not None and fmt == "png":
        return images.encode_deep_png(output.deep, png_compress_level), "image/png"
    image = output.image if output.image is not None else _eight_bit(output.deep)
    return images.encode_result(image, fmt, png_compress_level, params.get("output_quality"))


def _eight_bit(deep: np.ndarray) -> Image.Image:
    return Image.fromarray((deep >> 8).astype(np.uint8), "L" if deep.ndim == 2 else "RGBA" if deep.shape[2] == 4
                           else "RGB")
