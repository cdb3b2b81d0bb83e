"""Where models run and at which precision, decided once per worker process.

Policy: CUDA when available, else CPU. On CUDA, fp16 where the spandrel descriptor supports half, else
bf16 where it supports bfloat16, else fp32; channels_last memory format. A half-precision output with
NaNs/Infs is retried in fp32. The CPU side (channels_last, bf16 where the CPU has it in hardware) is
workers/cpu_precision.py.
"""
from __future__ import annotations

import functools
import logging
from typing import Any, Callable

from pixelforge.config import worker_environment

log = logging.getLogger(__name__)

# spandrel marks LaMa bf16-capable, but its Fourier units cast only fp16 inputs to float32 for the FFT; in bf16
# the FFT's float32 output meets bf16 weights and the convolution fails.
FLOAT32_ONLY = {"LaMa"}


@functools.lru_cache(maxsize=1)
def device_name() -> str:
    """'cuda' or 'cpu'; PIXELFORGE_DEVICE=cpu forces the CPU (e.g. to share a GPU host)."""
    forced = worker_environment().device
    if forced:
        return forced
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


CONTIGUOUS_ONLY = {"GFPGAN"}  # architectures that run only in the contiguous layout (see channels_last_fits)


def dtype_for(descriptor: Any, device: str | None = None):
    """The dtype a spandrel descriptor should run at on this device."""
    import torch

    device = device or device_name()
    if device != "cuda" or _architecture(descriptor) in FLOAT32_ONLY:
        return torch.float32
    if getattr(descriptor, "supports_half", False):
        return torch.float16
    if getattr(descriptor, "supports_bfloat16", False) and native_bf16():
        return torch.bfloat16
    return torch.float32


def _architecture(descriptor: Any) -> str:
    architecture = getattr(descriptor, "architecture", None)
    return getattr(architecture, "id", "") or ""


def native_bf16() -> bool:
    """bf16 in hardware (Ampere and newer); torch's default answer also counts slow emulation on older GPUs."""
    import torch

    return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)


def to_channels_last(model: Any) -> None:
    """channels_last for every 2-D convolution. Not Module.to(memory_format=...): that converts any 4-D or 5-D
    parameter and refuses 5-D ones, such as GFPGAN's modulated-convolution weights."""
    import torch

    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d):
            module.to(memory_format=torch.channels_last)


def prepare(descriptor: Any, device: str | None = None) -> Any:
    """Move a spandrel descriptor to the device at its policy dtype, eval mode, channels_last; on the CPU,
    workers/cpu_precision.py decides the layout and whether bf16 runs."""
    import torch

    device = device or device_name()
    descriptor.eval()
    descriptor.to(torch.device(device))
    if device == "cpu":
        from workers.cpu_precision import prepare_for_cpu

        return prepare_for_cpu(descriptor)
    dtype = dtype_for(descriptor, device)
    if dtype == torch.float16:
        descriptor.half()
    elif dtype == torch.bfloat16:
        descriptor.bfloat16()
    if device == "cuda":
        apply_gpu_layout(descriptor)
    return descriptor


def channels_last_fits(descriptor: Any) -> bool:
    """GFPGAN flattens a convolution's output with .view(), which a channels_last tensor cannot do."""
    return _architecture(descriptor) not in CONTIGUOUS_ONLY


def apply_gpu_layout(descriptor: Any) -> None:
    """On CUDA: channels_last where the architecture takes it, and the NaN/Inf guard for reduced precision."""
    if channels_last_fits(descriptor):
        to_channels_last(descriptor.model)
    refuse_non_finite_outputs(descriptor.model)


def refuse_non_finite_outputs(model: Any) -> None:
    """Raise NonFiniteOutput from the network itself when a reduced-precision run overflows: spandrel clamps its
    output to [0, 1] afterwards, which would turn an fp16 +Inf into white before any check of ours saw it."""
    import torch

    def check(_module, _inputs, output):
        tensor = output[0] if isinstance(output, (tuple, list)) else output
        if (isinstance(tensor, torch.Tensor) and tensor.dtype in (torch.float16, torch.bfloat16)
                and not bool(torch.isfinite(tensor).all())):
            raise NonFiniteOutput(f"non-finite output at {tensor.dtype}")

    model.register_forward_hook(check)


class NonFiniteOutput(RuntimeError):
    """A reduced-precision run produced NaN or Inf; the caller retries in float32."""


def run_with_fp32_fallback(descriptor: Any, run: Callable[[], Any]) -> Any:
    """Run ``run()``; if it raises NonFiniteOutput while the model computes in half precision or bf16, switch it
    to float32 for good and run again (fp16 overflows on some inputs and some weights; bf16 rarely)."""
    from workers.cpu_precision import precision_name, reduced_precision, to_float32

    try:
        return run()
    except NonFiniteOutput:
        if not reduced_precision(descriptor):
            raise
        log.warning("non-finite output at %s; retrying in float32", precision_name(descriptor))
        to_float32(descriptor)
        return run()
