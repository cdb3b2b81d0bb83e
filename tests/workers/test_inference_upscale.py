"""Upscale/enhance through spandrel on tiny random Real-ESRGAN weights; tiling; the warm model cache."""
import numpy as np
import pytest
import torch
from spandrel import ModelLoader

import model_factories as mf
from workers import inference
from workers.engines.base import EngineError, EngineInput
from workers.inference import loaded_models, run_model_engine
from workers.inference.upscale import apply_network, get_upscaler, load_upscaler
from workers.tiling import run_tiled, tile_boxes

pytestmark = pytest.mark.usefixtures("fresh_model_cache")


@pytest.fixture
def models_dir(tmp_path):
    mf.write_rrdbnet(tmp_path / "realesrgan-x2plus" / "RealESRGAN_x2plus.pth", scale=2)
    mf.write_compact(tmp_path / "realesr-general-x4v3" / "realesr-general-x4v3.pth", scale=4)
    return tmp_path


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


@pytest.mark.parametrize("scale, model", [(2, "realesrgan-x2plus"), (4, "realesr-general-x4v3")])
def test_upscale_output_size_and_engine(models_dir, monkeypatch, scale, model):
    monkeypatch.setattr("workers.cpu_precision._configured", "float32")  # bf16's report: test_cpu_precision.py
    image = mf.gradient_image(37, 29)
    progress = []
    out = run_model_engine("upscale", EngineInput(image, {"scale": scale}, progress=progress.append), models_dir)
    assert out is not None
    assert out.engine == "model" and out.model == model
    assert out.image.size == (37 * scale, 29 * scale) and out.image.mode == "RGB"
    assert out.info["scale"] == scale and out.info["precision"] == "fp32"
    assert progress and progress[-1] == pytest.approx(1.0)


def test_alpha_is_upscaled_separately_and_reattached(models_dir):
    image = mf.gradient_image(24, 20, mode="RGBA")
    out = run_model_engine("upscale", EngineInput(image, {"scale": 2}), models_dir)
    assert out.image.mode == "RGBA" and out.image.size == (48, 40)
    alpha = np.asarray(out.image.getchannel("A")).astype(int)
    assert alpha[:, :6].mean() < alpha[:, -6:].mean()  # the left-to-right ramp survived


def test_opaque_alpha_stays_opaque(models_dir):
    image = mf.gradient_image(16, 16).convert("RGBA")
    out = run_model_engine("upscale", EngineInput(image, {"scale": 4}), models_dir)
    assert out.image.getchannel("A").getextrema() == (255, 255)


def test_enhance_keeps_the_size(models_dir):
    image = mf.gradient_image(30, 22)
    out = run_model_engine("enhance", EngineInput(image, {}), models_dir)
    assert out.model == "realesr-general-x4v3" and out.image.size == (30, 22)  # a CPU's choice (registry tests)


def test_no_weights_means_none(tmp_path):
    assert run_model_engine("upscale", EngineInput(mf.gradient_image(8, 8), {"scale": 4}), tmp_path) is None


def test_model_is_loaded_once_per_process(models_dir, monkeypatch):
    calls = []
    real = ModelLoader.load_from_file

    def counting(self, path):
        calls.append(path)
        return real(self, path)

    monkeypatch.setattr(ModelLoader, "load_from_file", counting)
    for _ in range(2):
        run_model_engine("upscale", EngineInput(mf.gradient_image(12, 12), {"scale": 2}), models_dir)
    assert len(calls) == 1
    assert ("realesrgan-x2plus", "spandrel") in loaded_models()


def test_corrupt_weights_fail_the_job_with_a_message(tmp_path):
    path = tmp_path / "realesrgan-x2plus" / "RealESRGAN_x2plus.pth"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(EngineError, match="realesrgan-x2plus"):
        run_model_engine("upscale", EngineInput(mf.gradient_image(8, 8), {"scale": 2}), tmp_path)


def test_tile_boxes_cover_the_image_exactly():
    boxes = tile_boxes(70, 101, 32)
    covered = np.zeros((70, 101), int)
    for y0, y1, x0, x1 in boxes:
        covered[y0:y1, x0:x1] += 1
    assert (covered == 1).all()


@pytest.mark.parametrize("scale", [2, 4])
def test_tiled_equals_untiled(tmp_path, scale):
    descriptor = load_upscaler(mf.write_rrdbnet(tmp_path / f"x{scale}.pth", scale=scale, num_block=1))
    image = np.array(mf.gradient_image(88, 70))
    source = torch.from_numpy(image).permute(2, 0, 1)
    whole = run_tiled(descriptor, source, scale, tile=1000, pad=0)
    tiled = run_tiled(descriptor, source, scale, tile=32, pad=24)
    assert whole.shape == tiled.shape == (3, 70 * scale, 88 * scale)
    assert psnr(whole.numpy(), tiled.numpy()) >= 50


def test_tiled_output_is_channels_last_so_pil_takes_it_without_a_copy(tmp_path):
    descriptor = load_upscaler(mf.write_compact(tmp_path / "c.pth", scale=4))
    rgb = np.array(mf.gradient_image(40, 30))
    tiled = run_tiled(descriptor, torch.from_numpy(rgb).permute(2, 0, 1), 4, tile=16, pad=8)
    assert tiled.shape == (3, 120, 160) and tiled.permute(1, 2, 0).is_contiguous()
    out = apply_network(descriptor, rgb, tile=16)
    assert out.shape == (120, 160, 3) and out.flags["C_CONTIGUOUS"]


def test_downscale_must_divide_the_scale():
    source = torch.zeros((3, 8, 8), dtype=torch.uint8)
    with pytest.raises(ValueError, match="downscale"):
        run_tiled(lambda batch: batch, source, 4, tile=8, downscale=3)


def enhance_models_dir(tmp_path, scale: int):
    if scale == 2:
        mf.write_rrdbnet(tmp_path / "realesrgan-x2plus" / "RealESRGAN_x2plus.pth", scale=2)
    else:
        mf.write_compact(tmp_path / "realesr-general-x4v3" / "realesr-general-x4v3.pth", scale=4)
    return tmp_path


def whole_image_enhance(descriptor, rgb: np.ndarray, tile: int) -> np.ndarray:
    """The previous enhance: the whole image at the network's scale, then one area resize back."""
    import cv2

    return cv2.resize(apply_network(descriptor, rgb, tile=tile), rgb.shape[1::-1], interpolation=cv2.INTER_AREA)


@pytest.mark.parametrize("scale", [2, 4])
def test_enhance_downsamples_each_tile_like_the_whole_image_path(tmp_path, monkeypatch, scale):
    import workers.tiling

    models_dir = enhance_models_dir(tmp_path, scale)
    monkeypatch.setenv("PIXELFORGE_TILE", "32")  # 3 x 3 tiles on 90 x 70
    shapes = []
    real_run_tiled = workers.tiling.run_tiled

    def recording(*args, **kwargs):
        out = real_run_tiled(*args, **kwargs)
        shapes.append(tuple(out.shape))
        return out

    monkeypatch.setattr(workers.tiling, "run_tiled", recording)
    image = mf.gradient_image(90, 70)
    out = run_model_engine("enhance", EngineInput(image, {}), models_dir)
    assert shapes == [(3, 70, 90)]  # the xscale image is never built
    enhanced = np.asarray(out.image)
    descriptor = get_upscaler(out.model, models_dir)
    rgb = np.asarray(image)
    assert psnr(enhanced, whole_image_enhance(descriptor, rgb, tile=32)) >= 40
    # no seams: the same as one tile covering everything
    assert psnr(enhanced, apply_network(descriptor, rgb, tile=1000, downscale=scale)) >= 50


def test_enhance_keeps_alpha(tmp_path):
    models_dir = enhance_models_dir(tmp_path, 4)
    image = mf.gradient_image(48, 40, mode="RGBA")
    out = run_model_engine("enhance", EngineInput(image, {}), models_dir)
    assert out.image.mode == "RGBA" and out.image.size == (48, 40)
    alpha = np.asarray(out.image.getchannel("A")).astype(int)
    assert alpha[:, :6].mean() < alpha[:, -6:].mean()


def test_out_of_memory_retries_with_smaller_tiles(tmp_path):
    descriptor = load_upscaler(mf.write_compact(tmp_path / "c.pth", scale=4))
    seen = []

    def picky(batch):
        seen.append(batch.shape[-1])
        if batch.shape[-1] > 40:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")
        return descriptor(batch)

    source = torch.from_numpy(np.array(mf.gradient_image(64, 64))).permute(2, 0, 1)
    out = run_tiled(picky, source, 4, tile=64, pad=4, min_tile=16, dtype=descriptor.dtype)
    reference = run_tiled(descriptor, source, 4, tile=64, pad=64)
    assert out.shape == (3, 256, 256)
    assert max(seen) > 40 and seen[-1] <= 40
    assert psnr(out.numpy(), reference.numpy()) > 30


def test_out_of_memory_below_the_minimum_tile_is_raised(tmp_path):
    def always_oom(batch):
        raise torch.OutOfMemoryError("CUDA out of memory")

    source = torch.zeros((3, 32, 32), dtype=torch.uint8)
    with pytest.raises(torch.OutOfMemoryError):
        run_tiled(always_oom, source, 2, tile=32, min_tile=16)


def test_half_precision_nan_falls_back_to_float32(tmp_path):
    from workers.device import NonFiniteOutput, run_with_fp32_fallback

    descriptor = load_upscaler(mf.write_compact(tmp_path / "c.pth", scale=4))
    descriptor.bfloat16()
    runs = []

    def run():
        runs.append(descriptor.dtype)
        if descriptor.dtype != torch.float32:
            raise NonFiniteOutput("nan")
        return "ok"

    assert run_with_fp32_fallback(descriptor, run) == "ok"
    assert runs == [torch.bfloat16, torch.float32] and descriptor.dtype == torch.float32


def test_describe_runtime_names_device_and_providers():
    line = inference.describe_runtime()
    assert "device=" in line and "onnx providers=" in line and "CPUExecutionProvider" in line


def test_unknown_operation_is_not_a_model_job(tmp_path):
    assert run_model_engine("colorize", EngineInput(mf.gradient_image(8, 8), {}), tmp_path) is None


def test_a_replaced_model_file_is_reloaded_on_the_next_job(tmp_path):
    """`pixelforge models add` over an installed model: the next job uses the new weights, no restart."""
    import os

    from workers.inference import warm_model

    folder = tmp_path / "realesrgan-x2plus"
    folder.mkdir()
    weights = folder / "RealESRGAN_x2plus.pth"
    weights.write_bytes(b"first")
    loads = []

    def load(path):
        loads.append(weights.read_bytes())
        return len(loads)

    assert warm_model("realesrgan-x2plus", tmp_path, "probe", load) == 1
    assert warm_model("realesrgan-x2plus", tmp_path, "probe", load) == 1
    weights.write_bytes(b"second!")
    os.utime(weights, ns=(1, 2_000_000_000))
    assert warm_model("realesrgan-x2plus", tmp_path, "probe", load) == 2
    assert loads == [b"first", b"second!"]


# --- tile size from free GPU memory -------------------------------------------------------------------------

def test_tile_for_memory_takes_the_largest_padded_tile_that_fits():
    from workers.tiling import tile_for_memory

    per_pixel = 10_000.0
    budget = (512 + 32) ** 2 * per_pixel
    assert tile_for_memory(budget, per_pixel, pad=16) == 512
    assert tile_for_memory(budget - 1, per_pixel, pad=16) == 480  # the next step down
    assert tile_for_memory(budget * 100, per_pixel, pad=16) == 2048  # capped
    assert tile_for_memory(1.0, per_pixel, pad=16) == 64  # nothing fits: the floor (OOM retries go lower)


def test_tile_choice_on_cpu_and_by_setting(tmp_path, monkeypatch):
    from workers.inference.upscale import choose_tile

    descriptor = load_upscaler(mf.write_compact(tmp_path / "c.pth", scale=4))
    assert choose_tile(descriptor, "cpu") == 256
    monkeypatch.setenv("PIXELFORGE_TILE", "96")
    assert choose_tile(descriptor, "cuda") == 96


class FakeCudaMemory:
    """torch.cuda's memory counters, faked so the CUDA sizing path runs (on the CPU) with known figures."""

    def __init__(self, free: int, activation_bytes: int):
        self.free, self.activation_bytes, self.runs, self.idle = free, activation_bytes, 0, 0

    def install(self, monkeypatch, descriptor):
        monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (self.free, 80 * 2**30))
        monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: None)
        monkeypatch.setattr(torch.cuda, "memory_allocated", lambda device=None: 1000)
        monkeypatch.setattr(torch.cuda, "memory_reserved", lambda device=None: 1000 + self.idle)
        monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda device=None: None)
        monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device=None: 1000 + self.activation_bytes)
        forward = descriptor.model.forward

        def counted(*args, **kwargs):
            self.runs += 1
            return forward(*args, **kwargs)
        monkeypatch.setattr(descriptor.model, "forward", counted)


def test_cuda_tile_is_sized_from_free_memory_and_measured_once(tmp_path, monkeypatch):
    from workers.inference.upscale import PROBE_EDGE, choose_tile

    descriptor = load_upscaler(mf.write_compact(tmp_path / "c.pth", scale=4))
    per_pixel = 4096
    fake = FakeCudaMemory(free=2 * (768 + 32) ** 2 * per_pixel, activation_bytes=per_pixel * PROBE_EDGE ** 2)
    fake.install(monkeypatch, descriptor)
    assert choose_tile(descriptor, "cuda") == 768  # half of free memory holds a padded 768 px tile
    fake.free //= 4
    assert choose_tile(descriptor, "cuda") == 352  # a quarter of the memory: half the padded edge (400 px)
    fake.idle = fake.free  # as much again held, unused, by torch's allocator: that counts as free
    assert choose_tile(descriptor, "cuda") == 512  # padded edge √2 × 400 = 565 px: a 533 px tile, stepped down
    assert fake.runs == 1
    descriptor.float() if descriptor.dtype != torch.float32 else descriptor.half()
    choose_tile(descriptor, "cuda")
    assert fake.runs == 2  # another dtype, another measurement


def test_a_failed_measurement_falls_back_to_a_fixed_tile(tmp_path, monkeypatch):
    from workers.inference.upscale import CUDA_FALLBACK_TILE, choose_tile

    descriptor = load_upscaler(mf.write_compact(tmp_path / "c.pth", scale=4))

    def no_driver(device=None):
        raise RuntimeError("no CUDA driver")
    monkeypatch.setattr(torch.cuda, "mem_get_info", no_driver)
    assert choose_tile(descriptor, "cuda") == CUDA_FALLBACK_TILE
