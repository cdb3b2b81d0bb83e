"""Background removal through rembg with an explicit, locally-loaded session.

rembg's bare ``remove()`` (and its named sessions, when a file's hash differs) download weights, so we
always build a *custom* session from the file in our models folder: ``u2net_custom`` for U^2-Net and
``dis_custom`` for IS-Net, which apply the same pre-processing as rembg's named sessions. Execution
providers are explicit: CUDA on a GPU host, and a GPU host whose onnxruntime cannot use CUDA is an error,
not a silent 20x slower CPU run (set PIXELFORGE_ONNX_ALLOW_CPU=1 to accept that).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
from PIL import Image

from pixelforge.config import worker_environment
from workers.engines.base import EngineInput, EngineOutput, EngineUnavailable
from pixelforge.model_registry import LOAD_REMBG_ISNET, LOAD_REMBG_U2NET, REGISTRY

log = logging.getLogger(__name__)

_SESSION_NAMES = {LOAD_REMBG_U2NET: "u2net_custom", LOAD_REMBG_ISNET: "dis_custom"}


def gpu_provider_problem(device: str) -> str | None:
    """Why background models would fail on this GPU host (onnxruntime without CUDA), or None. For start-up
    messages: jobs themselves raise EngineUnavailable from onnx_providers."""
    if device != "cuda" or worker_environment().onnx_allow_cpu:
        return None
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    if "CUDAExecutionProvider" in ort.get_available_providers():
        return None
    return ("onnxruntime has no CUDA provider on this GPU host, so background-removal models will fail: install "
            "requirements-gpu.txt (onnxruntime-gpu), or set PIXELFORGE_ONNX_ALLOW_CPU=1 to run them on the CPU")


def onnx_providers(device: str) -> list[str]:
    """Execution providers for this device; raises EngineUnavailable rather than silently using the CPU
    on a GPU host."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    if device != "cuda":
        return ["CPUExecutionProvider"]
    if "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if worker_environment().onnx_allow_cpu:
        log.warning("onnxruntime has no CUDA provider on this GPU host; running ONNX models on the CPU")
        return ["CPUExecutionProvider"]
    raise EngineUnavailable("this is a GPU host but onnxruntime has no CUDAExecutionProvider "
                            f"(available: {', '.join(available)}); install onnxruntime-gpu, "
                            "or set PIXELFORGE_ONNX_ALLOW_CPU=1 to run background removal on the CPU")


def load_rembg_session(name: str, folder: Path, device: str):
    """A rembg session for registry entry ``name`` whose file lies in ``folder``."""
    entry = REGISTRY.get(name)
    os.environ["U2NET_HOME"] = str(folder)  # rembg's own lookups stay inside our models folder
    from rembg import new_session

    providers = onnx_providers(device)
    session = new_session(_SESSION_NAMES[entry.loader], model_path=str(folder / entry.files[0].path),
                          providers=providers)
    active = session.inner_session.get_providers()
    if device == "cuda" and "CUDAExecutionProvider" in providers and "CUDAExecutionProvider" not in active:
        if not worker_environment().onnx_allow_cpu:
            raise EngineUnavailable("onnxruntime could not start CUDA for background removal (missing "
                                    "CUDA/cuDNN libraries?); set PIXELFORGE_ONNX_ALLOW_CPU=1 to use the CPU")
    log.info("rembg session %s on %s", name, ", ".join(active))
    return session


def run_remove_background(inp: EngineInput, name: str, models_dir: Path) -> EngineOutput:
    """Cut out the foreground as RGBA; an input alpha channel is kept (the result is never more opaque)."""
    from rembg import remove

    from workers.device import device_name
    from workers.inference import warm_model

    device = device_name()
    session = warm_model(name, models_dir, f"rembg-{device}", lambda folder: load_rembg_session(name, folder, device))
    matting = bool(inp.params.get("alpha_matting", False))
    inp.progress(0.1)
    rgb = inp.image.convert("RGB")
    cutout = remove(rgb, session=session, alpha_matting=matting)
    cutout = cutout.convert("RGBA")
    if inp.image.mode == "RGBA":
        alpha = np.minimum(np.asarray(cutout.getchannel("A")), np.asarray(inp.image.getchannel("A")))
        cutout.putalpha(Image.fromarray(alpha, "L"))
    inp.progress(1.0)
    return EngineOutput(image=cutout, engine="model", model=name,
                        info={"alpha_matting": matting, "device": device})
