"""Classical upscaling: Lanczos resampling plus halo-free detail sharpening.

Lanczos keeps more detail than bicubic but still looks soft at 4x; an unsharp mask restores edge contrast. Plain
unsharp masks (and Lanczos itself) overshoot at hard edges and draw bright/dark halos, so the sharpened luminance
is clamped to the value range that a non-ringing (bilinear) upscale has around each pixel: edges get steeper but
never overshoot.

The image is processed in horizontal strips of input rows, each with STRIP_CONTEXT rows of real context above
and below that are cropped off after resizing, and written into one preallocated output: memory stays bounded
by the strip (plus the output), the working set fits the caches, and the result is byte-identical to processing
the whole image at once, because every step reaches fewer than STRIP_CONTEXT input rows away (Lanczos 4, the
blur and the clamp window at most 2 more), and at the image's own edges a strip ends where the image does.
"""
from __future__ import annotations

import cv2
import numpy as np

from workers.engines.base import EngineError, EngineInput, EngineOutput
from PIL import Image

from workers.engines.pixels import split_rgb_alpha, to_uint8, unsharp_mask

SUPPORTED_SCALES = (2, 4)
# Sharpening strength per scale: 4x loses more detail, so it gets a little more back.
SHARPEN_AMOUNT = {2: 0.7, 4: 0.9}
STRIP_PIXELS = 256_000  # input pixels per strip: 128 rows of a 2000 px wide picture
STRIP_CONTEXT = 8  # input rows of context on each side of a strip, cropped off after resizing


def classical_upscale(inp: EngineInput) -> EngineOutput:
    """Upscale by params["scale"] (2 or 4); alpha is resampled separately and never sharpened."""
    scale = _read_scale(inp.params)
    if inp.deep is not None:
        return EngineOutput(image=None, engine="classical", model=None, info={"scale": scale},
                            deep=upscale_deep(inp.deep, scale, inp.progress))
    rgb, alpha = split_rgb_alpha(inp.image)
    strip_rows = max(1, STRIP_PIXELS // rgb.shape[1])
    out = upscale_in_strips(rgb, alpha, scale, strip_rows, inp.progress)
    return EngineOutput(
        image=Image.fromarray(out, "RGB" if alpha is None else "RGBA"), engine="classical", model=None,
        info={"scale": scale},
    )


def upscale_in_strips(rgb: np.ndarray, alpha: np.ndarray | None, scale: int, strip_rows: int,
                      progress=None) -> np.ndarray:
    """(H*scale)x(W*scale)x3 (or x4 with alpha) uint8, computed `strip_rows` input rows at a time."""
    height, width = rgb.shape[:2]
    out = np.empty((height * scale, width * scale, 3 if alpha is None else 4), np.uint8)
    for y0 in range(0, height, strip_rows):
        y1 = min(y0 + strip_rows, height)
        top, bottom = max(0, y0 - STRIP_CONTEXT), min(height, y1 + STRIP_CONTEXT)
        size = (width * scale, (bottom - top) * scale)
        keep = slice((y0 - top) * scale, (y1 - top) * scale)
        target = out[y0 * scale:y1 * scale]
        target[..., :3] = _upscale_rgb(rgb[top:bottom], size, scale)[keep]
        if alpha is not None:
            # Sharpening alpha would create fringes and holes in cut-outs; plain resampling keeps it clean.
            target[..., 3] = cv2.resize(alpha[top:bottom], size, interpolation=cv2.INTER_LANCZOS4)[keep]
        if progress is not None:
            progress(y1 / height)
    return out


def upscale_deep(deep: np.ndarray, scale: int, progress=None) -> np.ndarray:
    """16-bit RGB(A) at 16 bits: Lanczos resampling in strips, clamped to the local bilinear range (no halos).

    The unsharp step of the 8-bit path works in 8-bit YCrCb; at 16 bits the clamp keeps Lanczos's own edge
    contrast without its overshoot, and every output keeps the input's full depth.
    """
    height, width = deep.shape[:2]
    out = np.empty((height * scale, width * scale, deep.shape[2]), np.uint16)
    strip_rows = max(1, STRIP_PIXELS // width)
    window = np.ones((2 * (scale // 2) + 1,) * 2, np.uint8)
    for y0 in range(0, height, strip_rows):
        y1 = min(y0 + strip_rows, height)
        top, bottom = max(0, y0 - STRIP_CONTEXT), min(height, y1 + STRIP_CONTEXT)
        size = (width * scale, (bottom - top) * scale)
        keep = slice((y0 - top) * scale, (y1 - top) * scale)
        strip = deep[top:bottom]
        lanczos = cv2.resize(strip, size, interpolation=cv2.INTER_LANCZOS4)
        reference = cv2.resize(strip, size, interpolation=cv2.INTER_LINEAR)
        clamped = np.clip(lanczos, cv2.erode(reference, window), cv2.dilate(reference, window))
        out[y0 * scale:y1 * scale] = clamped[keep]
        if progress is not None:
            progress(y1 / height)
    return out


def _upscale_rgb(rgb: np.ndarray, size: tuple[int, int], scale: int) -> np.ndarray:
    """Lanczos upscale of `rgb` to `size`, sharpened without halos."""
    upscaled = cv2.resize(rgb, size, interpolation=cv2.INTER_LANCZOS4)
    reference = cv2.resize(rgb, size, interpolation=cv2.INTER_LINEAR)
    return _sharpen_without_halos(upscaled, reference, scale)


def _read_scale(params: dict) -> int:
    """The requested scale factor, refusing anything but the supported ones."""
    scale = params.get("scale", 2)
    if isinstance(scale, bool) or scale not in SUPPORTED_SCALES:
        raise EngineError(f"upscale supports scale 2 or 4, got {scale!r}")
    return int(scale)


def _sharpen_without_halos(upscaled: np.ndarray, reference: np.ndarray, scale: int) -> np.ndarray:
    """Sharpen the luminance of `upscaled`, clamped to the local range of the non-ringing `reference`.

    Only luminance is sharpened: sharpening chroma draws coloured fringes along edges.
    """
    ycrcb = cv2.cvtColor(upscaled, cv2.COLOR_RGB2YCrCb)
    luma = ycrcb[..., 0].astype(np.float32)
    # The detail lost by upscaling lives at the size of one source pixel, i.e. `scale` output pixels.
    sharpened = unsharp_mask(luma, sigma=0.5 * scale, amount=SHARPEN_AMOUNT[scale], noise_floor=2.0)

    reference_luma = cv2.cvtColor(reference, cv2.COLOR_RGB2YCrCb)[..., 0]
    window = 2 * (scale // 2) + 1
    kernel = np.ones((window, window), np.uint8)
    low = cv2.erode(reference_luma, kernel).astype(np.float32)
    high = cv2.dilate(reference_luma, kernel).astype(np.float32)
    ycrcb[..., 0] = to_uint8(np.clip(sharpened, low, high))
    return cv2.cvtColor(ycrcb, cv2.COLOR_YCrCb2RGB)
