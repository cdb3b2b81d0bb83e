"""The CPU inference policy (workers/cpu_precision.py): bf16 where the CPU has it in hardware and stays close to
float32, CPU_PRECISION=float32 forcing float32, the fallback on CPUs without bf16, and channels_last at load."""
import numpy as np
import pytest
import torch

import model_factories as mf
from workers import cpu_precision
from workers.device import NonFiniteOutput, run_with_fp32_fallback
from workers.engines.base import EngineInput
from workers.inference import run_model_engine
from workers.inference.upscale import apply_network, get_upscaler, load_upscaler

pytestmark = pytest.mark.usefixtures("fresh_model_cache")


def with_policy(monkeypatch, setting: str, native: bool = True) -> None:
    """CPU_PRECISION as the worker would set it, on a CPU with (or without) bf16 in hardware."""
    monkeypatch.setattr(cpu_precision, "_configured", setting)
    monkeypatch.setattr(cpu_precision, "native_cpu_bf16", lambda: native)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def seen_inside(descriptor, rgb: np.ndarray) -> dict:
    """The dtype, memory format and autocast state the first convolution sees during apply_network."""
    first_conv = next(m for m in descriptor.model.modules() if isinstance(m, torch.nn.Conv2d))
    seen = {}

    def record(_module, inputs):
        seen.update(dtype=inputs[0].dtype, autocast=torch.is_autocast_enabled("cpu"),
                    channels_last=inputs[0].is_contiguous(memory_format=torch.channels_last))

    handle = first_conv.register_forward_pre_hook(record)
    try:
        apply_network(descriptor, rgb)
    finally:
        handle.remove()
    return seen


@pytest.mark.parametrize("write", [lambda p: mf.write_compact(p, scale=4), lambda p: mf.write_rrdbnet(p, scale=4)],
                         ids=["Compact", "RRDBNet"])
def test_bf16_output_stays_close_to_float32(tmp_path, monkeypatch, write):
    path = write(tmp_path / "model.pth")
    rgb = np.array(mf.gradient_image(40, 32))
    with_policy(monkeypatch, "float32")
    reference = apply_network(load_upscaler(path), rgb)
    with_policy(monkeypatch, "auto", native=True)
    descriptor = load_upscaler(path)
    assert descriptor.dtype == torch.bfloat16  # both measured fastest with bf16 weights
    out = apply_network(descriptor, rgb)
    assert out.dtype == np.uint8 and out.shape == reference.shape
    assert psnr(out, reference) >= 45  # the bar bench/cpu_speed.py adopts a path by
    assert not np.array_equal(out, reference)  # it really ran in bf16


def test_float32_setting_forces_float32_on_a_cpu_with_bf16(tmp_path, monkeypatch):
    path = mf.write_compact(tmp_path / "c.pth")
    rgb = np.array(mf.gradient_image(24, 16))
    with_policy(monkeypatch, "float32", native=True)
    seen = seen_inside(load_upscaler(path), rgb)
    assert seen["dtype"] == torch.float32 and not seen["autocast"]
    with_policy(monkeypatch, "auto", native=True)
    assert seen_inside(load_upscaler(path), rgb)["dtype"] == torch.bfloat16


def test_auto_falls_back_to_float32_without_native_bf16(tmp_path, monkeypatch):
    with_policy(monkeypatch, "auto", native=False)
    assert cpu_precision.cpu_precision() == "float32"
    descriptor = load_upscaler(mf.write_compact(tmp_path / "c.pth"))
    seen = seen_inside(descriptor, np.array(mf.gradient_image(24, 16)))
    assert seen["dtype"] == torch.float32 and not seen["autocast"]
    assert seen["channels_last"]  # the layout does not depend on bf16


def test_autocast_architectures_compute_in_bf16_with_float32_weights(tmp_path, monkeypatch):
    with_policy(monkeypatch, "auto", native=True)
    monkeypatch.setattr(cpu_precision, "BF16_WEIGHTS", set())  # Compact as any architecture not measured
    descriptor = load_upscaler(mf.write_compact(tmp_path / "c.pth"))
    assert descriptor.dtype == torch.float32
    assert seen_inside(descriptor, np.array(mf.gradient_image(24, 16)))["autocast"]
    assert cpu_precision.precision_name(descriptor) == "bf16"


def test_job_info_reports_bf16(tmp_path, monkeypatch):
    with_policy(monkeypatch, "auto", native=True)
    mf.write_compact(tmp_path / "realesr-general-x4v3" / "realesr-general-x4v3.pth", scale=4)
    out = run_model_engine("upscale", EngineInput(mf.gradient_image(20, 16), {"scale": 4}), tmp_path)
    assert out.info["precision"] == "bf16" and out.image.size == (80, 64)


def test_channels_last_once_at_load_not_per_job(tmp_path, monkeypatch):
    import workers.device

    with_policy(monkeypatch, "auto", native=True)
    conversions = []
    real = workers.device.to_channels_last
    monkeypatch.setattr(workers.device, "to_channels_last", lambda model: conversions.append(model) or real(model))
    mf.write_compact(tmp_path / "realesr-general-x4v3" / "realesr-general-x4v3.pth", scale=4)
    for _ in range(3):
        run_model_engine("upscale", EngineInput(mf.gradient_image(20, 16), {"scale": 4}), tmp_path)
    assert len(conversions) == 1
    convs = [m for m in get_upscaler("realesr-general-x4v3", tmp_path).model.modules()
             if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(m.weight.is_contiguous(memory_format=torch.channels_last) for m in convs)


def test_plans_per_architecture():
    assert cpu_precision.plan_for("ESRGAN", "bfloat16") == cpu_precision.CpuPlan(True, "weights")
    assert cpu_precision.plan_for("LaMa", "bfloat16") == cpu_precision.CpuPlan(True, "autocast")  # FFT in fp32
    assert cpu_precision.plan_for("GFPGAN", "bfloat16") == cpu_precision.CpuPlan(False, "autocast")
    assert cpu_precision.plan_for("LaMa", "float32") == cpu_precision.CpuPlan(True, None)


def test_non_finite_bf16_output_reruns_in_float32_for_good(tmp_path, monkeypatch):
    with_policy(monkeypatch, "auto", native=True)
    monkeypatch.setattr(cpu_precision, "BF16_WEIGHTS", set())
    descriptor = load_upscaler(mf.write_compact(tmp_path / "c.pth"))
    runs = []

    def run():
        runs.append(torch.is_autocast_enabled("cpu") or cpu_precision.reduced_precision(descriptor))
        if runs[-1]:
            raise NonFiniteOutput("overflow at bf16")
        return "ok"

    assert run_with_fp32_fallback(descriptor, run) == "ok"
    assert runs == [True, False]
    assert cpu_precision.precision_name(descriptor) == "fp32"
    assert not seen_inside(descriptor, np.array(mf.gradient_image(16, 16)))["autocast"]


def test_native_bf16_is_read_from_the_cpu(monkeypatch):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    for flags, expected in (({"avx512f", "avx512bw"}, False), ({"avx512f", "avx512_bf16"}, True),
                            ({"amx_bf16", "amx_tile"}, True)):
        monkeypatch.setattr(cpu_precision, "_cpuinfo_flags", lambda flags=flags: flags)
        cpu_precision.native_cpu_bf16.cache_clear()
        assert cpu_precision.native_cpu_bf16() is expected
    cpu_precision.native_cpu_bf16.cache_clear()


def test_an_unknown_setting_is_refused(monkeypatch):
    monkeypatch.setattr(cpu_precision, "_configured", None)
    with pytest.raises(ValueError, match="CPU_PRECISION"):
        cpu_precision.use_cpu_precision("fp8")
    cpu_precision.use_cpu_precision(" Float32 ")
    assert cpu_precision.cpu_precision() == "float32"
