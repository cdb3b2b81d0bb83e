"""Run by hand on a CUDA machine (not in CI): every architecture at its real size with random weights.

Checks that the precision policy (workers/device.py) agrees with fp32, that tiled inference agrees with
untiled, and prints a timing table. No downloads: weights are random, so the numbers test the numerics
and the plumbing, not image quality.

    python -m bench.gpu_check [--device cuda|cpu] [--size 256] [--repeats 5]
    python -m bench.gpu_check --device cpu --cuda-dtypes --size 64 --repeats 1   # the fp16 numerics, no GPU
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np


def build(arch: str):
    """A spandrel descriptor for ``arch`` at the size the released weights have."""
    import torch
    from spandrel import ModelLoader

    torch.manual_seed(0)
    if arch in ("realesrgan-x4plus", "realesrgan-x2plus"):
        from spandrel.architectures.ESRGAN import ESRGAN

        scale = 4 if arch.endswith("x4plus") else 2
        net = ESRGAN(in_nc=3 * (16 // scale ** 2), out_nc=3, num_filters=64, num_blocks=23, scale=scale,
                     shuffle_factor=None if scale == 4 else 2)
    elif arch == "realesr-general-x4v3":
        from spandrel.architectures.Compact import Compact

        net = Compact(num_in_ch=3, num_out_ch=3, num_feat=64, num_conv=32, upscale=4)
    elif arch == "gfpgan-1.4":
        from spandrel.architectures.GFPGAN import GFPGAN

        net = GFPGAN(out_size=512, num_style_feat=512, channel_multiplier=2, decoder_load_path=None,
                     fix_decoder=False, num_mlp=8, input_is_latent=True, different_w=True, narrow=1, sft_half=True)
    elif arch == "lama":
        from spandrel.architectures.LaMa import LaMa

        net = LaMa(in_nc=4, out_nc=3)
    else:
        raise ValueError(arch)
    return ModelLoader(device="cpu").load_from_state_dict(net.state_dict())


def psnr(a, b) -> float:
    mse = float(((a.float() - b.float()) ** 2).mean())
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


def timed(fn, repeats: int, device: str) -> float:
    import torch

    times = []
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def check(arch: str, device: str, size: int, repeats: int, cuda_dtype_on_cpu: bool = False) -> dict:
    import copy

    import torch

    from workers.device import dtype_for, prepare
    from workers.tiling import run_tiled

    reference = build(arch).to(device).eval()
    policy = prepare(copy.deepcopy(reference), device)
    if cuda_dtype_on_cpu and device == "cpu":  # the numerics of the CUDA policy's dtype, without a GPU
        from unittest import mock

        import workers.device

        with mock.patch.object(workers.device, "native_bf16", lambda: True):  # as on Ampere and newer
            policy.to(dtype_for(reference, "cuda"))
    side = 512 if arch == "gfpgan-1.4" else size
    x = torch.rand(1, 3, side, side, device=device)
    row = {"arch": arch, "dtype": str(policy.dtype).replace("torch.", ""), "input": f"{side}x{side}"}
    with torch.inference_mode():
        if arch == "lama":
            mask = torch.zeros(1, 1, side, side, device=device)
            mask[..., side // 4: side // 2, side // 4: side // 2] = 1
            ref = reference(x, mask)
            out = policy(x.to(policy.dtype), mask.to(policy.dtype))
            row["seconds"] = timed(lambda: policy(x.to(policy.dtype), mask.to(policy.dtype)), repeats, device)
        else:
            ref = reference(x)
            out = policy(x.to(policy.dtype))
            row["seconds"] = timed(lambda: policy(x.to(policy.dtype)), repeats, device)
        row["policy_vs_fp32_db"] = psnr(ref, out)
        if arch not in ("lama", "gfpgan-1.4"):
            source = (x[0] * 255).round().to(torch.uint8).cpu()
            whole = run_tiled(reference, source, reference.scale, tile=10_000, pad=0, device=device)
            tiled = run_tiled(reference, source, reference.scale, tile=side // 2, pad=32, device=device)
            row["tiled_vs_untiled_db"] = psnr(whole.float() / 255, tiled.float() / 255)
    if device == "cuda":
        row["peak_gib"] = torch.cuda.max_memory_allocated() / 2 ** 30
        torch.cuda.reset_peak_memory_stats()
    if device == "cuda" and arch not in ("lama", "gfpgan-1.4"):
        from workers.inference.upscale import bytes_per_input_pixel, choose_tile

        # what a job would get now, and the measurement it rests on (calibrates the sizing on this GPU)
        row["tile"] = f"{choose_tile(policy, device)} px, {bytes_per_input_pixel(policy) / 1024:.1f} KiB/px"
    return row


def snr_db(reference, other) -> float:
    """Signal-to-error ratio of ``other`` against ``reference`` (for outputs with no fixed range, e.g. noise)."""
    error = float(((reference.float() - other.float()) ** 2).mean())
    return float("inf") if error == 0 else 10 * np.log10(float(reference.float().var()) / error)


def check_sd(device: str, repeats: int) -> list[dict]:
    """The inpainting pipeline's networks as a job runs them on CUDA (fp16, UNet channels_last) against float32:
    one UNet noise prediction at 512² (latent 64², batch 2 for CFG) and one VAE decode. A CPU run shrinks the
    UNet's widths and the latent to 8² (a smoke run of the code path)."""
    import copy

    import torch
    from bench.gpu import build_sd_unet, build_sd_vae  # which silence diffusers' notice about .to(half)

    smoke = device != "cuda"
    half = torch.float16
    latent = 8 if smoke else 64
    unet = build_sd_unet(device, torch.float32, smoke)
    unet_half = copy.deepcopy(unet).to(half)
    if device == "cuda":
        unet_half.to(memory_format=torch.channels_last)
    torch.manual_seed(1)
    sample = torch.randn(2, 9, latent, latent, device=device)
    text = torch.randn(2, 77, 768, device=device)
    step = torch.tensor([500, 500], device=device)
    vae = build_sd_vae(device)
    vae_half = copy.deepcopy(vae).to(half)
    latents = torch.randn(1, 4, latent, latent, device=device)
    rows = []
    with torch.inference_mode():
        ref = unet(sample, step, encoder_hidden_states=text).sample
        out = unet_half(sample.to(half), step, encoder_hidden_states=text.to(half)).sample
        seconds = timed(lambda: unet_half(sample.to(half), step, encoder_hidden_states=text.to(half)), repeats,
                        device)
        rows.append({"arch": "sd-inpainting unet", "dtype": str(half).replace("torch.", ""),
                     "input": f"{latent}² lat", "policy_vs_fp32_db": snr_db(ref, out), "seconds": seconds,
                     "finite": bool(torch.isfinite(out).all())})
        image_ref = vae.decode(latents).sample.clamp(-1, 1)
        image = vae_half.decode(latents.to(half)).sample
        finite = bool(torch.isfinite(image).all())
        seconds = timed(lambda: vae_half.decode(latents.to(half)), repeats, device)
        rows.append({"arch": "sd-inpainting vae", "dtype": str(half).replace("torch.", ""),
                     "input": f"{latent * 8}²", "finite": finite, "seconds": seconds,
                     "policy_vs_fp32_db": psnr((image_ref + 1) / 2, (image.float().clamp(-1, 1) + 1) / 2)})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--size", type=int, default=256, help="input side for SR models and LaMa")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--arch", action="append", help="only these (repeatable)")
    parser.add_argument("--cuda-dtypes", action="store_true",
                        help="with --device cpu: run each model in the dtype the CUDA policy picks (fp16 where "
                             "supported), to check those numerics on a machine without a GPU")
    args = parser.parse_args(argv)
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print("no CUDA device; run with --device cpu for a (slow) smoke run", file=sys.stderr)
        return 1
    # The reference must be float32: by default cuDNN runs float32 convolutions as TF32 (10-bit mantissa).
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    archs = args.arch or ["realesrgan-x4plus", "realesrgan-x2plus", "realesr-general-x4v3", "gfpgan-1.4", "lama",
                          "sd-inpainting"]
    header = f"{'arch':<22}{'dtype':<10}{'input':<10}{'policy~fp32 dB':>15}{'tiled~whole dB':>15}{'median s':>10}"
    print(header + (f"{'peak GiB':>10}" if args.device == "cuda" else ""))
    failed = False
    rows = (check_sd(args.device, args.repeats) if arch == "sd-inpainting"
            else [check(arch, args.device, args.size, args.repeats, args.cuda_dtypes)] for arch in archs)
    for row in (row for batch in rows for row in batch):
        tiled = row.get("tiled_vs_untiled_db")
        line = (f"{row['arch']:<22}{row['dtype']:<10}{row['input']:<10}{row['policy_vs_fp32_db']:>15.1f}"
                f"{(f'{tiled:.1f}' if tiled is not None else '-'):>15}{row['seconds']:>10.3f}")
        print(line + (f"{row['peak_gib']:>10.2f}" if "peak_gib" in row else "")
              + (f"   tile from free memory: {row['tile']}" if "tile" in row else ""))
        failed |= row["policy_vs_fp32_db"] < 30 or (tiled is not None and tiled < 50) or not row.get("finite", True)
    print("FAIL: agreement below 30 dB (precision) or 50 dB (tiling), or NaN/Inf in a reduced-precision output"
          if failed else "all checks passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
