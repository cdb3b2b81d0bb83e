"""Prompted inpainting with diffusers' StableDiffusionInpaintPipeline, loaded from our models folder only.

The pipeline works on a crop around the mask (with context), scaled so its long side lies in
[WORK_MIN, WORK_MAX] (SD 1.5 is trained at 512; a GPU can afford more detail) and padded to a multiple of 8. On a
CPU the long side stays at CPU_WORK_MAX: a UNet step there takes 15 s at 512² but 89 s at 1024² (one thread,
bench/RESULTS.md), so 30 steps at 1024² would outlast the job's time limit. Its output is composited
back through a feathered mask, so pixels further than FEATHER_PX from the mask are the original bytes
(the VAE round trip would otherwise shift the whole image).

On CUDA the pipeline runs in fp16 with the UNet in channels_last. fp16 can overflow (the VAE decoder is the usual
place) and return NaNs, which would become a black patch; the output is checked as floats, and a non-finite
result moves the warm pipeline to fp32 for good and runs again with the same seed.
"""
from __future__ import annotations

import logging
import math
import secrets
from pathlib import Path

import numpy as np
from PIL import Image

from workers.engines.base import EngineError, EngineInput, EngineOutput

WORK_MIN, WORK_MAX = 512, 1024  # long side of what the pipeline sees
CPU_WORK_MAX = 512
CONTEXT = 0.5  # context around the mask's box, as a fraction of the box's size (at least 32 px)
FEATHER_PX = 8

log = logging.getLogger(__name__)


def load_pipeline(folder: Path, device: str):
    """The pipeline from a local diffusers folder (fp16 variant and dtype on CUDA), without a safety checker."""
    import warnings

    import torch
    from diffusers import StableDiffusionInpaintPipeline

    variant = "fp16" if any((folder / "unet").glob("*.fp16.safetensors")) else None
    dtype = torch.float16 if device == "cuda" else torch.float32
    with warnings.catch_warnings():  # newer diffusers renamed torch_dtype to dtype; older lack dtype
        warnings.filterwarnings("ignore", message=".*torch_dtype.*", category=FutureWarning)
        pipe = StableDiffusionInpaintPipeline.from_pretrained(
            folder, local_files_only=True, torch_dtype=dtype, variant=variant, use_safetensors=True,
            safety_checker=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    pipe = pipe.to(device)
    if device == "cuda":
        pipe.unet.to(memory_format=torch.channels_last)
    return pipe


def generate(pipe, **call) -> np.ndarray:
    """The pipeline's first image as H×W×3 floats in [0, 1], rerun in fp32 if reduced precision gave NaN/Inf.

    The fallback converts the (warm, shared) pipeline itself, so later jobs in this worker run in fp32 too, as
    the spandrel models do after the same failure (workers.device)."""
    import torch

    for attempt in range(2):
        with torch.inference_mode():
            image = pipe(**call, output_type="np").images[0]
        if np.isfinite(image).all():
            return image
        if attempt or pipe.unet.dtype == torch.float32:
            break
        log.warning("inpainting gave non-finite values in %s; moving the pipeline to float32 for good",
                    pipe.unet.dtype)
        pipe.to(dtype=torch.float32)
        generator = call.get("generator")
        if generator is not None:  # the same noise again
            generator.manual_seed(generator.initial_seed())
    raise EngineError("the inpainting model produced non-finite values (NaN/Inf) even in float32")


def mask_box(mask: np.ndarray, size: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) of the crop the pipeline works on: the mask's box plus context, or None if empty."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    width, height = size
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    mx = max(32, int((x1 - x0) * CONTEXT))
    my = max(32, int((y1 - y0) * CONTEXT))
    return max(0, x0 - mx), max(0, y0 - my), min(width, x1 + mx), min(height, y1 + my)


def working_size(width: int, height: int, device: str = "cuda") -> tuple[tuple[int, int], tuple[int, int]]:
    """(scaled size, padded size): long side clamped into [WORK_MIN, WORK_MAX] (at most CPU_WORK_MAX on a CPU),
    then padded to a multiple of 8."""
    long_side = max(width, height)
    work_max = WORK_MAX if device == "cuda" else min(WORK_MAX, CPU_WORK_MAX)
    scale = min(max(long_side, WORK_MIN), work_max) / long_side
    scaled = (max(8, round(width * scale)), max(8, round(height * scale)))
    padded = (math.ceil(scaled[0] / 8) * 8, math.ceil(scaled[1] / 8) * 8)
    return scaled, padded


def _pad(array: np.ndarray, padded: tuple[int, int]) -> np.ndarray:
    extra = ((0, padded[1] - array.shape[0]), (0, padded[0] - array.shape[1])) + ((0, 0),) * (array.ndim - 2)
    return np.pad(array, extra, mode="edge")


def feathered(mask: np.ndarray) -> np.ndarray:
    """Float weights in [0, 1]: 1 inside the mask, a smooth ramp FEATHER_PX wide outside it, exactly 0 beyond."""
    import cv2

    binary = (mask > 127).astype(np.float32)
    kernel = np.ones((2 * FEATHER_PX + 1,) * 2, np.uint8)
    grown = cv2.dilate(binary, kernel)
    blurred = cv2.blur(grown, (2 * FEATHER_PX + 1,) * 2, borderType=cv2.BORDER_REPLICATE)
    return np.maximum(binary, np.where(grown > 0, blurred, 0.0))


def _resolve_seed(value) -> int:
    return secrets.randbelow(2 ** 32) if value is None else int(value)


def get_pipeline(name: str, models_dir: Path):
    """The warm pipeline of ``name`` on this worker's device (loaded on first use; a worker warms it at start)."""
    from workers.device import device_name
    from workers.inference import warm_model

    device = device_name()
    return warm_model(name, models_dir, f"diffusers-{device}", lambda folder: load_pipeline(folder, device))


def _paste_back(result: np.ndarray, scaled: tuple[int, int], rgb: np.ndarray, box,
                crop_mask: np.ndarray) -> Image.Image:
    """The generated crop at its original size, feathered into the photo along the mask's edge."""
    x0, y0, x1, y1 = box
    crop = rgb[y0:y1, x0:x1]
    generated = (result * 255).round().clip(0, 255).astype(np.uint8)[: scaled[1], : scaled[0]]
    generated = np.asarray(Image.fromarray(generated).resize((x1 - x0, y1 - y0), Image.LANCZOS)).astype(np.float32)
    weight = feathered(crop_mask)[..., None]
    blended = generated * weight + crop.astype(np.float32) * (1.0 - weight)
    out = rgb.copy()
    out[y0:y1, x0:x1] = np.where(weight > 0, blended.round().clip(0, 255), crop).astype(np.uint8)
    return Image.fromarray(out, "RGB")


def run_inpaint(inp: EngineInput, name: str, models_dir: Path) -> EngineOutput:
    """Repaint the masked area from the prompt; returns info {"seed", "effective_steps"}."""
    import torch

    from workers.device import device_name

    if inp.mask is None:
        raise EngineError("inpaint needs a mask")
    params = inp.params
    seed = _resolve_seed(params.get("seed"))
    strength = float(params.get("strength", 1.0))
    steps = int(params.get("steps", 30))
    if int(steps * strength) < 1:  # diffusers runs int(steps * strength) steps; never zero
        steps = math.ceil(1 / strength)
    effective = int(steps * strength)
    info = {"seed": seed, "effective_steps": effective}
    rgb = np.asarray(inp.image.convert("RGB"))
    mask = np.asarray(inp.mask.convert("L"))
    box = mask_box(mask, inp.image.size)
    if box is None:
        return EngineOutput(image=inp.image.copy(), engine="model", model=name, info={**info, "effective_steps": 0})

    pipe = get_pipeline(name, models_dir)
    device = device_name()
    x0, y0, x1, y1 = box
    crop, crop_mask = rgb[y0:y1, x0:x1], mask[y0:y1, x0:x1]
    scaled, padded = working_size(x1 - x0, y1 - y0, device)
    work = _pad(np.asarray(Image.fromarray(crop).resize(scaled, Image.LANCZOS)), padded)
    work_mask = _pad(np.asarray(Image.fromarray(crop_mask).resize(scaled, Image.NEAREST)), padded)
    inp.progress(0.02)

    def on_step_end(_pipe, step, _timestep, callback_kwargs):
        inp.progress(0.02 + 0.96 * (step + 1) / max(effective, 1))
        return callback_kwargs

    result = generate(pipe, prompt=str(params.get("prompt", "")), image=Image.fromarray(work),
                      mask_image=Image.fromarray(work_mask), height=padded[1], width=padded[0],
                      num_inference_steps=steps, guidance_scale=float(params.get("cfg_scale", 7.5)),
                      strength=strength, generator=torch.Generator("cpu").manual_seed(seed),
                      callback_on_step_end=on_step_end)
    image = _paste_back(result, scaled, rgb, box, crop_mask)
    if inp.image.mode == "RGBA":
        image.putalpha(inp.image.getchannel("A"))
    inp.progress(1.0)
    return EngineOutput(image=image, engine="model", model=name, info=info)
