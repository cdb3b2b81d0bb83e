"""Real-ESRGAN (and any spandrel single-image model) for upscale and enhance.

Weights load through spandrel (the original realesrgan/basicsr packages do not import on current
torchvision). Images run tile by tile (workers/tiling.py); an alpha channel is upscaled separately by the
same network, as Real-ESRGAN does, and re-attached. Enhance runs the network and area-downsamples the
result back to the input size: the network's restoration (denoise, deblur, de-JPEG) at the same size. The
downsampling happens tile by tile right after the network, so enhance never holds the ×scale image.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PIL import Image

from pixelforge.config import worker_environment
from workers.engines.base import EngineError, EngineInput, EngineOutput
from pixelforge.model_registry import weights_file

log = logging.getLogger(__name__)

TILE_PAD = 16  # input pixels of context around each tile, cropped off afterwards


CUDA_FALLBACK_TILE = 512  # when measuring fails; fits fp16 RRDBNet in ~3 GB
CUDA_MEMORY_SHARE = 0.5  # of the GPU's free memory that one tile's activations may use
PROBE_EDGE = 128  # input pixels per side of the measuring run


def choose_tile(descriptor, device: str) -> int:
    """Tile edge in input pixels: PIXELFORGE_TILE; else 256 on CPU (bounded memory, caches stay warm); else on
    CUDA, the largest tile whose activations fit half the free GPU memory, from the model's measured
    bytes per input pixel (one small run per model, remembered). Out-of-memory retries shrink it further."""
    configured = worker_environment().tile
    if configured:
        return max(32, configured)
    if device != "cuda":
        return 256
    try:
        import torch

        from workers.tiling import tile_for_memory

        free, _total = torch.cuda.mem_get_info(descriptor.device)
        # what torch's allocator holds but does not use is free to us too (the driver counts it as taken)
        idle = torch.cuda.memory_reserved(descriptor.device) - torch.cuda.memory_allocated(descriptor.device)
        return tile_for_memory((free + idle) * CUDA_MEMORY_SHARE, bytes_per_input_pixel(descriptor), pad=TILE_PAD)
    except Exception as error:  # noqa: BLE001 - a failed measurement must not stop the job
        log.warning("could not size tiles from GPU memory (%s); using %dpx", error, CUDA_FALLBACK_TILE)
        return CUDA_FALLBACK_TILE


def bytes_per_input_pixel(descriptor) -> float:
    """Peak GPU memory a forward pass allocates per input pixel, measured once per loaded model and dtype (an
    fp32 fallback needs twice fp16's). A small probe counts fixed costs as if they grew with pixels, so it errs
    towards smaller tiles."""
    import torch

    measured_by_dtype = getattr(descriptor, "_pixelforge_bytes_per_pixel", None)
    if measured_by_dtype is None:
        measured_by_dtype = descriptor._pixelforge_bytes_per_pixel = {}
    if descriptor.dtype in measured_by_dtype:
        return measured_by_dtype[descriptor.dtype]

    torch.cuda.synchronize(descriptor.device)
    before = torch.cuda.memory_allocated(descriptor.device)
    torch.cuda.reset_peak_memory_stats(descriptor.device)
    probe = torch.zeros(1, 3, PROBE_EDGE, PROBE_EDGE, device=descriptor.device, dtype=descriptor.dtype)
    with torch.inference_mode():
        descriptor(probe.contiguous(memory_format=torch.channels_last))
    torch.cuda.synchronize(descriptor.device)
    peak = torch.cuda.max_memory_allocated(descriptor.device) - before
    measured = max(1.0, peak / PROBE_EDGE ** 2)
    measured_by_dtype[descriptor.dtype] = measured
    log.info("%s at %s: %.0f bytes of activations per input pixel", descriptor.architecture.name,
             descriptor.dtype, measured)
    return measured


def load_upscaler(path: Path):
    """A spandrel ImageModelDescriptor on the policy device and dtype."""
    from spandrel import ImageModelDescriptor, ModelLoader

    from workers.device import prepare

    descriptor = ModelLoader().load_from_file(path)
    if not isinstance(descriptor, ImageModelDescriptor) or descriptor.input_channels != 3:
        raise EngineError(f"{path.name} is not a 3-channel single-image model ({descriptor.architecture.name})")
    return prepare(descriptor)


def get_upscaler(name: str, models_dir: Path):
    """The warm descriptor of ``name``, from whichever spandrel format `models add` installed it in."""
    from workers.inference import warm_model

    return warm_model(name, models_dir, "spandrel", lambda _d: load_upscaler(weights_file(name, models_dir)))


def _to_chw(array: np.ndarray):
    """uint8 stays uint8; 16-bit pixels become int32 (what workers/tiling.py takes for them)."""
    import torch

    if array.dtype == np.uint16:
        array = array.astype(np.int32)
    array = np.ascontiguousarray(array)
    if not array.flags.writeable:  # arrays viewing PIL memory are read-only; torch wants to own writable data
        array = array.copy()
    return torch.from_numpy(array).permute(2, 0, 1)


def apply_network(descriptor, rgb: np.ndarray, *, tile: int | None = None, progress=None,
                  downscale: int = 1) -> np.ndarray:
    """HxWx3 uint8 -> (H*s/downscale)x(W*s/downscale)x3 uint8 through the network, tiled, with fp32 retry on
    NaN/Inf; C-contiguous, so PIL takes it without another full-size copy. ``downscale`` (a divisor of the
    network's scale s) area-averages each tile as it comes out of the network."""
    from workers.cpu_precision import cpu_forward, cpu_input
    from workers.device import device_name, run_with_fp32_fallback
    from workers.tiling import run_tiled

    source = _to_chw(rgb)

    def network(patch):  # on the CPU: the layout and bf16 mode chosen at load (workers/cpu_precision.py)
        with cpu_forward(descriptor):
            return descriptor(cpu_input(descriptor, patch))

    def run():  # the tile is chosen per run: an fp32 retry needs smaller ones than fp16
        return run_tiled(network, source, descriptor.scale, tile=tile or choose_tile(descriptor, device_name()),
                         pad=TILE_PAD, device=descriptor.device, dtype=descriptor.dtype, progress=progress,
                         downscale=downscale)

    out = run_with_fp32_fallback(descriptor, run)
    return out.permute(1, 2, 0).numpy()  # run_tiled stores channels-last: this view is contiguous


def _resize(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import cv2

    if (array.shape[1], array.shape[0]) == size:
        return array
    shrinking = size[0] < array.shape[1]
    return cv2.resize(array, size, interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LANCZOS4)


def _split_progress(progress, start: float, end: float):
    return lambda f: progress(start + (end - start) * f)


def _tile_downscale(descriptor, image: Image.Image, out_size: tuple[int, int]) -> int:
    """How much to area-average each tile: enhance (out_size is the input's size) goes straight back to 1x.
    An upscale whose model has another scale keeps its whole-image resize, so its output stays as it was."""
    return int(descriptor.scale) if out_size == image.size else 1


def _upscale_array(descriptor, image: Image.Image, out_size: tuple[int, int], progress) -> Image.Image:
    """Upscale RGB(A) with the network, resize to out_size when the net's scale differs, re-attach alpha."""
    has_alpha = image.mode == "RGBA" and image.getchannel("A").getextrema() != (255, 255)
    rgb = np.asarray(image.convert("RGB"))
    rgb_end = 0.75 if has_alpha else 1.0
    downscale = _tile_downscale(descriptor, image, out_size)
    result = _resize(apply_network(descriptor, rgb, progress=_split_progress(progress, 0.0, rgb_end),
                                   downscale=downscale), out_size)
    if image.mode != "RGBA":
        return Image.fromarray(result, "RGB")
    if has_alpha:
        alpha = np.asarray(image.getchannel("A"))
        grey = np.repeat(alpha[:, :, None], 3, axis=2)
        up = apply_network(descriptor, grey, progress=_split_progress(progress, rgb_end, 1.0), downscale=downscale)
        alpha_up = _resize(up.mean(axis=2).round().astype(np.uint8), out_size)
    else:
        alpha_up = np.full(result.shape[:2], 255, np.uint8)
    return Image.fromarray(np.dstack([result, alpha_up]), "RGBA")


def _info(descriptor, **extra) -> dict:
    from workers.cpu_precision import precision_name
    from workers.device import device_name

    return {"device": device_name(), "precision": precision_name(descriptor), "model_scale": descriptor.scale,
            **extra}


def _upscale_deep(descriptor, deep: np.ndarray, out_size: tuple[int, int], progress) -> np.ndarray:
    """The 16-bit twin of _upscale_array: H×W×3 or ×4 uint16 in, the same depth out, alpha separately."""
    has_alpha = deep.shape[2] == 4
    rgb_end = 0.75 if has_alpha else 1.0
    rgb = apply_network(descriptor, deep[..., :3], progress=_split_progress(progress, 0.0, rgb_end))
    result = _resize(rgb.astype(np.uint16), out_size)
    if not has_alpha:
        return result
    grey = np.repeat(deep[..., 3:4], 3, axis=2)
    alpha = apply_network(descriptor, grey, progress=_split_progress(progress, rgb_end, 1.0))
    alpha_up = _resize(np.rint(alpha.mean(axis=2)).astype(np.uint16), out_size)
    return np.dstack([result, alpha_up])


def run_upscale(inp: EngineInput, name: str, models_dir: Path) -> EngineOutput:
    """Upscale by params["scale"] (2 or 4); a 16-bit input (inp.deep) stays 16-bit."""
    scale = int(inp.params.get("scale", 4))
    descriptor = get_upscaler(name, models_dir)
    width, height = inp.image.size
    out_size = (width * scale, height * scale)
    info = _info(descriptor, scale=scale)
    if inp.deep is not None:
        deep = _upscale_deep(descriptor, inp.deep, out_size, inp.progress)
        return EngineOutput(image=None, engine="model", model=name, info=info, deep=deep)
    image = _upscale_array(descriptor, inp.image, out_size, inp.progress)
    return EngineOutput(image=image, engine="model", model=name, info=info)


def run_enhance(inp: EngineInput, name: str, models_dir: Path) -> EngineOutput:
    """Restore at the same size: network upscale, then area-downsample to the input size."""
    descriptor = get_upscaler(name, models_dir)
    image = _upscale_array(descriptor, inp.image, inp.image.size, inp.progress)
    return EngineOutput(image=image, engine="model", model=name, info=_info(descriptor))
