"""How models run on a CPU: channels_last, and bf16 where the CPU does bf16 in hardware.

Measured in bench/cpu_speed.py (bench/RESULTS.md, "CPU inference paths"): on a CPU with AVX512-BF16, oneDNN's bf16
kernels run the upscalers, GFPGAN and LaMa about twice as fast as float32, at 50-60 dB PSNR against float32;
channels_last adds ~10 %. A CPU without native bf16 would only emulate it (not measured here; nothing to gain), so
there the policy stays float32. CPU_PRECISION (auto, bfloat16, float32) overrides the choice, once, at load.
"""
from __future__ import annotations

import contextlib
import functools
import logging
import os
from dataclasses import dataclass, replace
from typing import Any

from workers.device import CONTIGUOUS_ONLY

log = logging.getLogger(__name__)

SETTINGS = ("auto", "bfloat16", "float32")
NATIVE_BF16_FLAGS = {"avx512_bf16", "amx_bf16"}  # x86 (/proc/cpuinfo); aarch64 calls it "bf16"
_configured: str | None = None  # set by the worker from app.config; else PIXELFORGE_CPU_PRECISION; else auto


@functools.lru_cache(maxsize=1)
def native_cpu_bf16() -> bool:
    """bf16 arithmetic in hardware (AVX512-BF16, AMX, Arm BF16). torch's mkldnn_bf16 probe is not enough: it also
    says yes on plain AVX-512, where oneDNN only emulates bf16."""
    import torch

    probes = (getattr(torch.cpu, "_is_avx512_bf16_supported", None), getattr(torch.cpu, "_is_amx_tile_supported", None))
    if any(probe is not None and probe() for probe in probes):
        return True
    return bool(_cpuinfo_flags() & (NATIVE_BF16_FLAGS | {"bf16"}))


def _cpuinfo_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith(("flags", "Features")):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def use_cpu_precision(setting: str | None) -> None:
    """The worker's CPU_PRECISION setting (its app config, which already read the environment)."""
    global _configured
    setting = setting.strip().lower() if setting else None
    if setting is not None and setting not in SETTINGS:
        raise ValueError(f"CPU_PRECISION must be one of {', '.join(SETTINGS)}, not {setting!r}")
    _configured = setting


def cpu_precision() -> str:
    """'bfloat16' or 'float32': the setting, where auto means bf16 only on a CPU that has it in hardware."""
    setting = (_configured or os.environ.get("PIXELFORGE_CPU_PRECISION") or "auto").strip().lower()
    if setting not in SETTINGS:
        log.warning("CPU_PRECISION %r is not one of %s; using auto", setting, ", ".join(SETTINGS))
        setting = "auto"
    if setting == "auto":
        return "bfloat16" if native_cpu_bf16() else "float32"
    if setting == "bfloat16" and not native_cpu_bf16():
        log.warning("CPU_PRECISION=bfloat16 on a CPU without native bf16: emulated, likely slower than float32")
    return setting


@dataclass(frozen=True)
class CpuPlan:
    """How one loaded model runs on the CPU: channels_last or not; bf16 as None, "weights" or "autocast"."""

    channels_last: bool
    bf16: str | None


PLAN_ATTRIBUTE = "pixelforge_cpu_plan"
# bf16 weights where bench/cpu_speed.py measured them at least as fast as autocast and within 45 dB of float32:
# Compact ~1.2x faster than under autocast (59.7 dB), RRDBNet alike (52 dB either way). Any other architecture runs
# under autocast, which keeps precision-sensitive ops in float32: LaMa's FFT (bf16 weights cannot run it at all),
# GFPGAN's style modulation (59 dB under autocast, 54 dB with bf16 weights), and architectures never measured.
BF16_WEIGHTS = {"ESRGAN", "Compact"}


def plan_for(architecture: str, precision: str) -> CpuPlan:
    bf16 = None
    if precision == "bfloat16":
        bf16 = "weights" if architecture in BF16_WEIGHTS else "autocast"
    return CpuPlan(channels_last=architecture not in CONTIGUOUS_ONLY, bf16=bf16)  # as on CUDA (device.py)


def prepare_for_cpu(descriptor: Any) -> Any:
    """Once, at load: convolutions to channels_last and bf16 weights where the plan says so; the plan is kept on
    the descriptor for cpu_forward/cpu_input. Spandrel clamps outputs, so bf16 runs check for NaN/Inf first."""
    from workers.device import refuse_non_finite_outputs, to_channels_last

    architecture = getattr(getattr(descriptor, "architecture", None), "id", "") or ""
    plan = plan_for(architecture, cpu_precision())
    if plan.channels_last:
        to_channels_last(descriptor.model)
    if plan.bf16 == "weights":
        descriptor.bfloat16()
    if plan.bf16:
        refuse_non_finite_outputs(descriptor.model)
    setattr(descriptor, PLAN_ATTRIBUTE, plan)
    log.info("%s on the CPU: %s%s", architecture or type(descriptor).__name__,
             "channels_last" if plan.channels_last else "contiguous",
             f", bf16 {plan.bf16}" if plan.bf16 else ", float32")
    return descriptor


def cpu_plan(model: Any) -> CpuPlan | None:
    """The plan prepare_for_cpu gave ``model``; None for a model it did not prepare (e.g. one on CUDA)."""
    return getattr(model, PLAN_ATTRIBUTE, None)


def cpu_input(model: Any, tensor):
    """``tensor`` in the memory format ``model`` was prepared for (a no-op off the CPU)."""
    import torch

    plan = cpu_plan(model)
    if plan is not None and plan.channels_last and tensor.dim() == 4:
        return tensor.contiguous(memory_format=torch.channels_last)
    return tensor


def cpu_forward(model: Any):
    """A context for ``model``'s forward pass: bf16 autocast where its plan says so, else nothing."""
    import torch

    plan = cpu_plan(model)
    if plan is not None and plan.bf16 == "autocast":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def reduced_precision(model: Any) -> bool:
    """Does ``model`` compute below float32 (half or bf16 weights, or bf16 autocast)?"""
    import torch

    plan = cpu_plan(model)
    return getattr(model, "dtype", torch.float32) != torch.float32 or (plan is not None and plan.bf16 is not None)


def to_float32(model: Any) -> None:
    """For good: float32 weights and no autocast (after a reduced-precision run overflowed)."""
    model.float()
    plan = cpu_plan(model)
    if plan is not None:
        setattr(model, PLAN_ATTRIBUTE, replace(plan, bf16=None))


def precision_name(model: Any) -> str:
    """'fp16', 'bf16' or 'fp32', for job info and logs."""
    import torch

    dtype = getattr(model, "dtype", torch.float32)
    if dtype == torch.float16:
        return "fp16"
    return "bf16" if reduced_precision(model) else "fp32"
