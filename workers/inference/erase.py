"""Object erasing with LaMa: fill the (dilated) masked area from its surroundings, no prompt.

Big images follow IOPaint's crop strategy: above CROP_TRIGGER px on the long side, each connected mask
region is inpainted in its own crop with CROP_MARGIN px of context, so cost follows the mask, not the
photo. A region longer than RESIZE_LIMIT px is filled at that size and scaled back (IOPaint's resize
strategy), so a huge mask costs bounded time and memory. On CUDA out-of-memory a crop is retried at half its
working size (cached GPU memory freed first), down to OOM_FLOOR px; past that the job fails. Crops are padded
(symmetric) to a multiple of 8, as LaMa's FFT blocks need. Only masked pixels change. The released big-lama.pt
is TorchScript: spandrel reads its state dict; a .pt spandrel cannot recognise is run as TorchScript directly.
"""
from __future__ import annotations

import logging
import math
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from workers.engines.base import EngineError, EngineInput, EngineOutput
from pixelforge.model_registry import weights_file

log = logging.getLogger(__name__)

CROP_TRIGGER = 800
CROP_MARGIN = 128
DILATE_PX = 7  # masks drawn by hand stop short of soft edges and shadows
RESIZE_LIMIT = 2048  # longest side LaMa runs at (≈ 4 MP: minutes on a CPU, a few GB on a GPU)
OOM_FLOOR = 512  # smallest working size an out-of-memory retry goes down to (LaMa's training size)

# (H x W x 3 uint8 image, H x W uint8 mask 0/255) -> H x W x 3 uint8
InpaintFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


class TorchScriptLaMa:
    """The TorchScript big-lama.pt called directly (IOPaint's way): forward(image [0,1], mask {0,1})."""

    def __init__(self, path: Path, device: str):
        import torch

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            self.module = torch.jit.load(str(path), map_location=device).eval()
        self.device = torch.device(device)
        self.dtype = torch.float32

    def __call__(self, image, mask):
        return self.module(image, mask).clamp(0, 1)


def load_lama(path: Path):
    """A spandrel MaskedImageModelDescriptor (policy dtype), or the TorchScript module as a fallback."""
    from spandrel import MaskedImageModelDescriptor, ModelLoader, UnsupportedModelError

    from workers.device import device_name, prepare

    try:
        with warnings.catch_warnings():  # spandrel tries torch.jit.load first, which torch now deprecates
            warnings.simplefilter("ignore", FutureWarning)
            descriptor = ModelLoader().load_from_file(path)
    except UnsupportedModelError:
        if path.suffix != ".pt":
            raise
        log.info("%s is not a state dict spandrel knows; loading it as TorchScript", path.name)
        return TorchScriptLaMa(path, device_name())
    if not isinstance(descriptor, MaskedImageModelDescriptor):
        raise EngineError(f"{path.name} is not an inpainting model ({descriptor.architecture.name})")
    return prepare(descriptor)


def model_inpaint_fn(model) -> InpaintFn:
    """Wrap a loaded LaMa as an InpaintFn: pad to a multiple of 8, run at the model's dtype (bf16 autocast on a
    CPU that has it, see workers/cpu_precision.py), crop back."""
    import torch

    from workers.cpu_precision import cpu_forward, cpu_input

    def run(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        height, width = mask.shape
        ph, pw = math.ceil(height / 8) * 8 - height, math.ceil(width / 8) * 8 - width
        image = np.pad(image, ((0, ph), (0, pw), (0, 0)), mode="symmetric")
        mask = np.pad(mask, ((0, ph), (0, pw)), mode="symmetric")
        with torch.inference_mode(), cpu_forward(model):
            x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None]
            x = cpu_input(model, x.to(model.device).to(model.dtype).div_(255))
            m = torch.from_numpy((mask > 127).astype(np.float32))[None, None].to(model.device, model.dtype)
            out = model(x, cpu_input(model, m))[0, :, :height, :width]
            out = out.float().clamp_(0, 1).mul_(255).round_().to(torch.uint8)
        return out.permute(1, 2, 0).cpu().numpy()

    return run


def dilate(mask: np.ndarray, pixels: int = DILATE_PX) -> np.ndarray:
    import cv2

    binary = np.where(mask > 127, 255, 0).astype(np.uint8)
    if pixels <= 0:
        return binary
    return cv2.dilate(binary, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * pixels + 1,) * 2))


def mask_boxes(mask: np.ndarray) -> list[tuple[int, int, int, int]]:
    """(x0, y0, x1, y1) of each connected masked region."""
    import cv2

    count, _, stats, _ = cv2.connectedComponentsWithStats((mask > 127).astype(np.uint8), connectivity=8)
    return [(int(x), int(y), int(x + w), int(y + h)) for x, y, w, h, _ in stats[1:count]]


def _within_limit(inpaint: InpaintFn, crop: np.ndarray, crop_mask: np.ndarray, limit: int) -> np.ndarray:
    """inpaint(crop, crop_mask), run at ``limit`` on the long side when the crop is longer, scaled back."""
    import cv2

    height, width = crop_mask.shape
    if max(height, width) <= limit:
        return inpaint(crop, crop_mask)
    factor = limit / max(height, width)
    size = (max(8, round(width * factor)), max(8, round(height * factor)))
    small = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
    # any coverage stays masked, so thin strokes survive the reduction
    small_mask = np.where(cv2.resize(crop_mask, size, interpolation=cv2.INTER_AREA) > 0, 255, 0).astype(np.uint8)
    return cv2.resize(inpaint(small, small_mask), (width, height), interpolation=cv2.INTER_CUBIC)


def _fill_crop(inpaint: InpaintFn, crop: np.ndarray, crop_mask: np.ndarray) -> np.ndarray:
    """_within_limit at RESIZE_LIMIT; on out-of-memory, again at half the size it ran at, down to OOM_FLOOR,
    then the error propagates (the job fails as before)."""
    from workers.tiling import free_cuda_memory, is_out_of_memory

    limit = RESIZE_LIMIT
    while True:
        try:
            return _within_limit(inpaint, crop, crop_mask, limit)
        except Exception as error:  # noqa: BLE001 - only OOM is handled; everything else re-raised
            ran_at = min(limit, max(crop_mask.shape))
            if not is_out_of_memory(error) or ran_at <= OOM_FLOOR:
                raise
        # Outside the except block: its traceback no longer holds the failed pass's tensors, so they can go.
        free_cuda_memory()
        limit = max(OOM_FLOOR, ran_at // 2)
        log.warning("LaMa out of memory at %dpx; retrying at %dpx", ran_at, limit)


def erase(image: np.ndarray, mask: np.ndarray, inpaint: InpaintFn, progress=None) -> np.ndarray:
    """Inpaint the masked pixels of ``image`` (whole image, or crop per region when the image is big)."""
    height, width = mask.shape
    result = image.copy()
    if max(height, width) <= CROP_TRIGGER:
        jobs = [(0, 0, width, height)]
    else:
        jobs = [(max(0, x0 - CROP_MARGIN), max(0, y0 - CROP_MARGIN),
                 min(width, x1 + CROP_MARGIN), min(height, y1 + CROP_MARGIN)) for x0, y0, x1, y1 in mask_boxes(mask)]
    for index, (x0, y0, x1, y1) in enumerate(jobs):
        # Later crops see earlier fills, as IOPaint does: overlapping regions stay consistent.
        crop, crop_mask = result[y0:y1, x0:x1], mask[y0:y1, x0:x1]
        filled = _fill_crop(inpaint, np.ascontiguousarray(crop), np.ascontiguousarray(crop_mask))
        region = crop_mask > 127
        result[y0:y1, x0:x1][region] = filled[region]
        if progress is not None:
            progress((index + 1) / len(jobs))
    return result


def run_erase(inp: EngineInput, name: str, models_dir: Path) -> EngineOutput:
    """Erase what the mask covers; info reports the mask dilation and how many crops ran."""
    from workers.inference import warm_model

    if inp.mask is None:
        raise EngineError("erase-object needs a mask")
    model = warm_model(name, models_dir, "lama", lambda _folder: load_lama(weights_file(name, models_dir)))
    rgb = np.asarray(inp.image.convert("RGB"))
    mask = dilate(np.asarray(inp.mask.convert("L")))
    filled = erase(rgb, mask, model_inpaint_fn(model), inp.progress)
    image = Image.fromarray(filled, "RGB")
    if inp.image.mode == "RGBA":
        image.putalpha(inp.image.getchannel("A"))
    crops = 1 if max(mask.shape) <= CROP_TRIGGER else len(mask_boxes(mask))
    return EngineOutput(image=image, engine="model", model=name, info={"dilate_px": DILATE_PX, "crops": crops})
