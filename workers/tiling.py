"""Overlapping-tile inference for image-to-image networks, so any image fits in bounded memory.

The source stays on the CPU as uint8; each tile is cut with ``pad`` pixels of real context on every side
(fewer at the image border, where the network pads exactly as it would untiled), sent to the device,
run, converted to uint8 on the device, and its context border cropped off before it is written into a
preallocated uint8 output. Cropping context rather than feathering keeps tiled output equal to untiled
output wherever the context covers the network's effective receptive field (the Real-ESRGAN strategy).
The output is stored channels-last (H×W×C), so the array handed to PIL is contiguous and is not copied
once more. A caller that wants the result smaller than the network's scale (enhance) passes ``downscale``:
each cropped tile is area-averaged on the device before it is written, so memory follows the result, not
the network's scale² larger intermediate. On CUDA out-of-memory the pass restarts with tiles half the
size, down to ``min_tile``.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Callable

log = logging.getLogger(__name__)

ProgressFn = Callable[[float], None]


@dataclass(frozen=True)
class TilePlan:
    """How an image is cut: tile size and context pad in input pixels."""

    tile: int
    pad: int


def tile_boxes(height: int, width: int, tile: int) -> list[tuple[int, int, int, int]]:
    """(y0, y1, x0, x1) boxes covering the image with near-equal tiles no bigger than ``tile``."""
    rows, cols = math.ceil(height / tile), math.ceil(width / tile)
    th, tw = math.ceil(height / rows), math.ceil(width / cols)
    return [(y, min(y + th, height), x, min(x + tw, width))
            for y in range(0, height, th) for x in range(0, width, tw)]


def is_out_of_memory(error: BaseException) -> bool:
    """A CUDA (or other torch allocator) out-of-memory error, worth retrying with less work at once."""
    import torch

    oom = getattr(torch, "OutOfMemoryError", None) or torch.cuda.OutOfMemoryError
    return isinstance(error, oom) or "out of memory" in str(error).lower()


def free_cuda_memory() -> None:
    """Return cached CUDA blocks; call it outside the ``except`` block, whose traceback pins the failed tensors."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _area_average(tile, factor: int):
    """Mean over factor×factor blocks of a float CHW tile of whole numbers, rounded half up (as OpenCV's
    INTER_AREA rounds a 2x reduction), in exact integer arithmetic."""
    import torch

    if factor == 1:
        return tile
    sums = torch.nn.functional.avg_pool2d(tile.unsqueeze(0), factor, divisor_override=1)[0]
    return torch.div(sums + (factor * factor) // 2, factor * factor, rounding_mode="floor")


def _one_pass(model: Callable, image, scale: int, plan: TilePlan, device, dtype, progress: ProgressFn | None,
              downscale: int = 1):
    import torch

    from workers.device import NonFiniteOutput

    channels, height, width = image.shape
    factor = scale // downscale  # of the written output, in output pixels per input pixel
    deep = image.dtype == torch.int32  # 16-bit pixels travel as int32 (torch's uint16 lacks most ops)
    max_value = 65535.0 if deep else 255.0
    out_dtype = torch.int32 if deep else torch.uint8
    out = torch.empty((height * factor, width * factor, channels), dtype=out_dtype)
    boxes = tile_boxes(height, width, plan.tile)
    strict = dtype != torch.float32
    for index, (y0, y1, x0, x1) in enumerate(boxes):
        py0, py1 = max(0, y0 - plan.pad), min(height, y1 + plan.pad)
        px0, px1 = max(0, x0 - plan.pad), min(width, x1 + plan.pad)
        patch = image[:, py0:py1, px0:px1].unsqueeze(0).to(device=device, non_blocking=True)
        patch = patch.float().div_(max_value).to(dtype)  # 16-bit values overflow fp16 (max 65504) undivided
        if device.type == "cuda":
            patch = patch.contiguous(memory_format=torch.channels_last)
        result = model(patch)
        if not bool(torch.isfinite(result).all()):
            if strict:
                raise NonFiniteOutput(f"non-finite output in tile {index} at {dtype}")
            result = torch.nan_to_num(result, nan=0.0, posinf=1.0, neginf=0.0)
        oy, ox = (y0 - py0) * scale, (x0 - px0) * scale
        result = result[0, :, oy:oy + (y1 - y0) * scale, ox:ox + (x1 - x0) * scale]
        # Quantise at the network's scale first, so a downscaled tile averages the very bytes an untiled
        # upscale followed by an area resize would.
        tile_out = _area_average(result.float().clamp_(0, 1).mul_(max_value).round_(), downscale).to(out_dtype)
        out[y0 * factor:y1 * factor, x0 * factor:x1 * factor].copy_(tile_out.permute(1, 2, 0))
        del patch, result, tile_out
        if progress is not None:
            progress((index + 1) / len(boxes))
    return out.permute(2, 0, 1)


def tile_for_memory(budget_bytes: float, bytes_per_pixel: float, *, pad: int = 16, smallest: int = 64,
                    largest: int = 2048, step: int = 32) -> int:
    """The largest tile edge (a multiple of step, within [smallest, largest]) whose padded input fits budget
    at bytes_per_pixel of activations; smallest when nothing fits (out-of-memory retries go lower still)."""
    best = smallest
    for edge in range(smallest, largest + 1, step):
        if (edge + 2 * pad) ** 2 * bytes_per_pixel <= budget_bytes:
            best = edge
    return best


def run_tiled(model: Callable, image, scale: int, *, tile: int, pad: int = 16, device=None, dtype=None,
              min_tile: int = 32, progress: ProgressFn | None = None, downscale: int = 1):
    """Apply ``model`` (float [0,1] NCHW -> NCHW at ``scale``x) to a uint8 CHW CPU tensor, tile by tile.

    An int32 tensor holding 16-bit pixels (0..65535) works the same and gives int32 16-bit pixels back.
    Returns a uint8 CHW CPU tensor at ``scale / downscale``x: a view of channels-last storage, so
    ``.permute(1, 2, 0)`` is a contiguous H×W×C array. ``downscale`` (a divisor of ``scale``) area-averages
    each tile right after the network. Retries with smaller tiles on out-of-memory; re-raises when even
    ``min_tile`` does not fit. Raises workers.device.NonFiniteOutput for NaN/Inf at reduced precision.
    """
    import torch

    if downscale < 1 or scale % downscale:
        raise ValueError(f"downscale must divide the network's scale {scale}, got {downscale}")
    device = torch.device(device or "cpu")
    dtype = dtype or getattr(model, "dtype", None) or torch.float32  # a spandrel descriptor knows its own
    _, height, width = image.shape
    size = max(1, min(tile, max(height, width)))
    while True:
        try:
            with torch.inference_mode():
                return _one_pass(model, image, scale, TilePlan(size, pad), device, dtype, progress, downscale)
        except Exception as error:  # noqa: BLE001 - only OOM is handled; everything else re-raised
            if not is_out_of_memory(error) or size <= min_tile:
                raise
        # Outside the except block: its traceback no longer holds the failed pass's tensors, so they can go.
        free_cuda_memory()
        size = max(min_tile, size // 2)
        log.warning("out of memory; retrying with %dpx tiles", size)
