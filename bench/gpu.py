"""Section 7, GPU timings (run by hand on a CUDA host; never in CI): Real-ESRGAN x4plus fp32 against fp16 and
tiles against the whole image, the SD-inpainting UNet's steps/s at 512², GFPGAN per face. Real sizes, random
weights (no downloads). Correctness checks live in bench/gpu_check.py; this file only times.

    python -m bench.gpu [--repeats 5] [--side 768]
    python -m bench.gpu --smoke      # on a CPU: tiny inputs and a narrow UNet, to check the script runs
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

from bench.table import Row, render

SECTION = "7 GPU"


def _build(arch: str):
    """A spandrel descriptor at the released size with random weights (gpu_check's builder where present)."""
    try:
        from bench.gpu_check import build
    except ImportError:  # the correctness script is optional here; the same two architectures, built directly
        import torch
        from spandrel import ModelLoader

        torch.manual_seed(0)
        if arch == "realesrgan-x4plus":
            from spandrel.architectures.ESRGAN import ESRGAN

            net = ESRGAN(in_nc=3, out_nc=3, num_filters=64, num_blocks=23, scale=4)
        else:
            from spandrel.architectures.GFPGAN import GFPGAN

            net = GFPGAN(out_size=512, num_style_feat=512, channel_multiplier=2, decoder_load_path=None,
                         fix_decoder=False, num_mlp=8, input_is_latent=True, different_w=True, narrow=1,
                         sft_half=True)
        return ModelLoader(device="cpu").load_from_state_dict(net.state_dict())
    return build(arch)


def _timed(fn, repeats: int, device: str) -> tuple[float, object]:
    """Median seconds over `repeats` calls after one warm-up call, synchronising CUDA; and the last result."""
    import torch

    result = fn()
    times = []
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        result = fn()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def _peak_gib(device: str) -> str:
    import torch

    if device != "cuda":
        return ""
    peak = torch.cuda.max_memory_allocated() / 2 ** 30
    torch.cuda.reset_peak_memory_stats()
    return f"; peak GPU memory {peak:.2f} GiB"


def realesrgan(device: str, side: int, repeats: int) -> list[Row]:
    """x4plus through the product's tiled path (workers.inference.upscale.apply_network)."""
    import copy

    from bench.fixtures import photo
    from workers.device import prepare
    from workers.inference.upscale import apply_network, choose_tile

    fp32 = _build("realesrgan-x4plus").to(device).eval()
    policy = prepare(copy.deepcopy(fp32), device)  # fp16 on CUDA (spandrel marks ESRGAN half-safe)
    width, height = side, side * 3 // 4
    rgb = photo(width, height)
    megapixels = width * height / 1e6
    rows, outputs = [], {}
    reference = "float32 reference, whole image"
    chosen = f"{_dtype(policy)} (policy)"
    sized = choose_tile(policy, device)  # what a job gets: from free GPU memory on CUDA
    for label, descriptor, tile in ((reference, fp32, 10_000), (f"{chosen}, whole image", policy, 10_000),
                                    (f"{chosen}, {sized} px tiles (chosen from free memory)", policy, sized),
                                    (f"{chosen}, 512 px tiles", policy, 512), (f"{chosen}, 256 px tiles", policy, 256)):
        seconds, outputs[label] = _timed(lambda: apply_network(descriptor, rgb, tile=tile), repeats, device)
        # apply_network switches a half-precision model to float32 for good if it ever sees NaN/Inf
        rows.append(Row(SECTION, f"Real-ESRGAN x4plus {width}×{height} in, {label}", megapixels / seconds,
                        "in MP/s", f"{seconds:.3f} s; ran as {_dtype(descriptor)}{_peak_gib(device)}"))
    base = outputs[reference].astype(np.int16)
    for label, out in outputs.items():
        if label != reference:
            diff = np.abs(out.astype(np.int16) - base)
            rows.append(Row(SECTION, f"Real-ESRGAN x4plus: {label} vs {reference}", float(diff.max()), "max |Δ|/255",
                            f"mean |Δ| {diff.mean():.3f}"))
    return rows


def _dtype(descriptor) -> str:
    return str(descriptor.dtype).replace("torch.", "")


def build_sd_unet(device: str, dtype, smoke: bool):
    """The SD 1.5 inpainting UNet (runwayml/stable-diffusion-inpainting's configuration) with random weights;
    `smoke` shrinks its widths for a CPU run of the code path."""
    import torch
    from diffusers import UNet2DConditionModel
    from diffusers.utils import logging as diffusers_logging

    diffusers_logging.set_verbosity_error()  # .to(dtype) of a model built in code warns of nothing useful
    widths = (32, 64, 64, 64) if smoke else (320, 640, 1280, 1280)
    with torch.device(device):
        torch.manual_seed(0)
        return UNet2DConditionModel(
            sample_size=64, in_channels=9, out_channels=4, layers_per_block=2, block_out_channels=widths,
            down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
            up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3, cross_attention_dim=768,
            attention_head_dim=8, norm_num_groups=32, act_fn="silu", flip_sin_to_cos=True, freq_shift=0,
        ).to(dtype).eval()


def build_sd_vae(device: str):
    """SD 1.5's VAE (its released configuration) with random weights, in float32."""
    import torch
    from diffusers import AutoencoderKL

    with torch.device(device):
        torch.manual_seed(0)
        return AutoencoderKL(
            in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2, sample_size=512,
            block_out_channels=(128, 256, 512, 512), norm_num_groups=32, act_fn="silu",
            down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4).eval()


def sd_unet(device: str, repeats: int, smoke: bool) -> list[Row]:
    """The SD 1.5 inpainting UNet at real size, batch 2 for CFG: steps/s in the dtype a job runs it in."""
    import torch

    dtype = torch.float16 if device == "cuda" else torch.float32
    unet = build_sd_unet(device, dtype, smoke)
    if device == "cuda":
        unet.to(memory_format=torch.channels_last)  # as workers/inference/inpaint.py runs it
    latent = 8 if smoke else 64
    sample = torch.randn(2, 9, latent, latent, device=device, dtype=dtype)
    text = torch.randn(2, 77, 768, device=device, dtype=dtype)
    step = torch.tensor([500, 500], device=device)
    params = sum(p.numel() for p in unet.parameters()) / 1e6

    def one_step():
        with torch.inference_mode():
            return unet(sample, step, encoder_hidden_states=text).sample

    seconds, _ = _timed(one_step, repeats, device)
    return [Row(SECTION, f"SD-inpainting UNet, latent {latent}² ({latent * 8}² image), batch 2 (CFG), "
                         f"{_dtype(unet)}", 1 / seconds, "steps/s",
                f"{params:.0f} M parameters; {seconds * 1000:.0f} ms/step{_peak_gib(device)}")]


def gfpgan(device: str, repeats: int) -> list[Row]:
    """GFPGAN v1.4 on one aligned 512² face, at the policy dtype and in fp32, through restore_aligned."""
    import copy

    from bench.fixtures import photo
    from workers.device import prepare
    from workers.inference.restore_face import restore_aligned

    fp32 = _build("gfpgan-1.4").to(device).eval()
    policy = prepare(copy.deepcopy(fp32), device)
    face = photo(512, 512)
    rows, outputs = [], {}
    for label, descriptor in (("float32 reference", fp32), (f"{_dtype(policy)} (policy)", policy)):
        seconds, outputs[label] = _timed(lambda: restore_aligned(descriptor, face), repeats, device)
        rows.append(Row(SECTION, f"GFPGAN v1.4 per 512² face, {label}", 1 / seconds, "faces/s",
                        f"{seconds * 1000:.0f} ms/face{_peak_gib(device)}"))
    if len(outputs) == 2:
        first, second = outputs.values()
        rows.append(Row(SECTION, f"GFPGAN: {_dtype(policy)} (policy) vs float32 reference", float(np.abs(first - second).max()),
                        "max |Δ|/255", ""))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="GPU timings (by hand, on a CUDA host)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--side", type=int, default=768, help="Real-ESRGAN input width (height = 3/4 of it)")
    parser.add_argument("--smoke", action="store_true", help="run on the CPU with tiny inputs (checks the script)")
    args = parser.parse_args(argv)
    try:
        import torch
    except ImportError:
        print("bench/gpu.py: torch is not installed; nothing to time.")
        return 0
    if not args.smoke and not torch.cuda.is_available():
        print("bench/gpu.py: no CUDA device here (torch.cuda.is_available() is False); nothing to time. "
              "Run it on a machine with an NVIDIA GPU, or pass --smoke to check the script on a CPU.")
        return 0
    device = "cpu" if args.smoke else "cuda"
    # float32 rows are true float32 (cuDNN's default runs them as TF32, 10-bit mantissa), so the max |Δ| rows
    # compare the policy dtype against a real reference; the product's own float32 fallback keeps the default.
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    repeats, side = (1, 32) if args.smoke else (args.repeats, args.side)
    from bench.machine import describe

    rows = realesrgan(device, side, repeats) + sd_unet(device, repeats, args.smoke) + gfpgan(device, repeats)
    print("\n".join(describe()))
    print(render(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
