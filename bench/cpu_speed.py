"""`python -m bench.cpu_speed [--quick]`: which way of running each model is fastest on this CPU, and how far from
float32 its output lands.

For the upscalers (Compact = realesr-general-x4v3, RRDBNet = realesrgan-x4plus), GFPGAN v1.4 and Big-LaMa, at their
released sizes with random weights (bench/gpu_check.py's builders; no downloads), on a photo: seconds per input
megapixel and PSNR against the float32 output for every path in bench/cpu_paths.py, then the worker's own code
(workers.inference, as prepared at load) with CPU_PRECISION=float32 and with the default (auto). Paths of one model
are timed in interleaved rounds, so a busy machine slows them alike. PSNR uses the float32 output's range as its
peak; a path is adoptable at >= 45 dB. The summary figure cpu_upscale_speedup is the default CPU 4x upscale
(Compact) before #18 (float32, contiguous) divided by the worker's path now. Torch, ONNX Runtime and OpenVINO all
get the worker's thread count (WORKER_TORCH_THREADS' default: the cores less one).
"""
from __future__ import annotations

import argparse
import copy
import math
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from bench.table import Row, goal, render

SECTION = "10 CPU speed"
ADOPT_DB = 45.0
SPEEDUP_GOAL = 5.0
WORKER_FLOAT32, WORKER_AUTO = "worker path, CPU_PRECISION=float32", "worker path, auto (adopted)"


@dataclass(frozen=True)
class Case:
    arch: str  # bench.gpu_check.build's name
    label: str
    side: int  # square input, pixels
    repeats: int  # timed rounds after the warm-up call (which also gives the output for PSNR)
    in_quick: bool
    skip: dict = field(default_factory=dict)  # path -> why it is not run


CASES = (
    # Compact at one CPU tile (workers.inference.upscale.choose_tile's 256 px), what the worker runs per call; at 64²
    # its float32 path stays in cache and runs ~1.5x faster per pixel than on a real tile, which hides the gain.
    Case("realesr-general-x4v3", "Compact x4", 256, 5, True),
    Case("realesrgan-x4plus", "RRDBNet x4plus", 32, 2, False, {
        "ONNX Runtime int8 (static)": "not measured by default: calibrating its ~350 convolutions takes minutes "
                                      "here (bench/RESULTS.md has a measurement)",
        "OpenVINO int8 (static)": "not measured (as ONNX Runtime int8)"}),
    Case("gfpgan-1.4", "GFPGAN v1.4", 512, 1, False, {
        "channels_last": "GFPGAN flattens a convolution's output with .view(), which channels_last refuses",
        "channels_last + bf16 autocast": "as channels_last", "channels_last + bf16 weights": "as channels_last",
        "ONNX Runtime int8 (static)": "not measured (calibration at 512² is minutes here)",
        "OpenVINO int8 (static)": "not measured (as ONNX Runtime int8)"}),
    Case("lama", "Big-LaMa", 256, 1, False),
)


@dataclass
class Measured:
    output: np.ndarray | None = None
    times: list[float] = field(default_factory=list)
    error: str = ""


def gfpgan_forward(model):
    """GFPGAN as restore_face calls it, as a module (for the exporters): [-1, 1] in, the restored face out."""
    import torch

    class Forward(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, x):
            return self.model(x, return_rgb=False)[0]

    return Forward()


def _inputs(case: Case, held_out: bool = False) -> tuple[list[np.ndarray], np.ndarray, np.ndarray | None]:
    """(float32 NCHW network inputs, the uint8 photo, the uint8 mask or None). ``held_out``: other pixels (a
    mirrored crop of the photo at twice the size), for int8 calibration."""
    from bench.fixtures import centre_mask, photo

    rgb = photo(case.side, case.side)
    if held_out:
        start, end = case.side // 2, case.side // 2 + case.side
        rgb = photo(2 * case.side, 2 * case.side, seed=1)[start:end, start:end][:, ::-1]
    chw = np.ascontiguousarray(rgb.transpose(2, 0, 1)[None], dtype=np.float32)
    if case.arch == "gfpgan-1.4":
        return [chw / 127.5 - 1], rgb, None
    if case.arch == "lama":
        mask = centre_mask(case.side, case.side, 0.2)
        return [chw / 255, (mask > 127).astype(np.float32)[None, None]], rgb, mask
    return [chw / 255], rgb, None


def _worker_runner(descriptor, case: Case, rgb: np.ndarray, mask: np.ndarray | None, setting: str) -> Callable:
    """The worker's code for this model, on a copy prepared (at load, as the worker does) under ``setting``."""
    from workers import cpu_precision
    from workers.device import prepare

    previous = cpu_precision._configured
    cpu_precision.use_cpu_precision(setting)
    try:
        prepared = prepare(copy.deepcopy(descriptor), "cpu")
    finally:
        cpu_precision.use_cpu_precision(previous)
    if case.arch == "gfpgan-1.4":
        from workers.inference.restore_face import restore_aligned

        return lambda _inputs: restore_aligned(prepared, rgb).transpose(2, 0, 1)[None] / 127.5 - 1
    if case.arch == "lama":
        from workers.inference.erase import model_inpaint_fn

        inpaint = model_inpaint_fn(prepared)
        return lambda _inputs: inpaint(rgb, mask).transpose(2, 0, 1)[None].astype(np.float32) / 255
    from workers.inference.upscale import apply_network

    return lambda _inputs: apply_network(prepared, rgb).transpose(2, 0, 1)[None].astype(np.float32) / 255


def _builders(case: Case, threads: int) -> tuple[dict[str, Callable], list[np.ndarray]]:
    from bench.cpu_paths import PATHS, build_paths
    from bench.gpu_check import build

    descriptor = build(case.arch).eval()
    module = gfpgan_forward(descriptor.model) if case.arch == "gfpgan-1.4" else descriptor.model
    inputs, rgb, mask = _inputs(case)
    wanted = tuple(path for path in PATHS if path not in case.skip)
    builders = dict(build_paths(module, inputs, threads, calibration=_inputs(case, held_out=True)[0],
                                wanted=wanted))
    builders[WORKER_FLOAT32] = lambda: _worker_runner(descriptor, case, rgb, mask, "float32")
    builders[WORKER_AUTO] = lambda: _worker_runner(descriptor, case, rgb, mask, "auto")
    return builders, inputs


def _seconds(runner: Callable, inputs: list) -> float:
    start = time.perf_counter()
    runner(inputs)
    return time.perf_counter() - start


def measure(case: Case, threads: int) -> dict[str, Measured]:
    """Every path of one case: built, called once (the output for PSNR), then timed in interleaved rounds."""
    from bench.cpu_paths import PathUnavailable

    builders, inputs = _builders(case, threads)
    results: dict[str, Measured] = {name: Measured(error=why) for name, why in case.skip.items()}
    runners = {}
    for name, build in builders.items():
        try:
            runner = build()
            output = runner(inputs)  # the first call also pays one-off set-up (oneDNN primitives): not timed
        except PathUnavailable as error:
            results[name] = Measured(error=str(error))
            continue
        except Exception as error:  # noqa: BLE001 - a path that breaks is a finding, not the end of the run
            results[name] = Measured(error=f"fails: {type(error).__name__}: {str(error).splitlines()[0][:140]}")
            continue
        results[name] = Measured(output=np.asarray(output, np.float32))
        runners[name] = runner
    for _ in range(case.repeats):
        for name, runner in runners.items():
            results[name].times.append(_seconds(runner, inputs))
    return results


def psnr_db(reference: np.ndarray, other: np.ndarray) -> float:
    """PSNR with the reference's own range as the peak (random-weight outputs have no fixed range)."""
    peak = float(reference.max() - reference.min()) or 1.0
    mse = float(np.mean((reference.astype(np.float64) - other.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(peak ** 2 / mse)


def case_rows(case: Case, results: dict[str, Measured]) -> tuple[list[Row], dict[str, float]]:
    """One row per path; figures: s/MP per path (for the summary)."""
    from bench.cpu_paths import FLOAT32_BEFORE

    megapixels = case.side * case.side / 1e6
    base = statistics.median(results[FLOAT32_BEFORE].times) / megapixels if results[FLOAT32_BEFORE].times else math.nan
    per_mp, psnrs = {}, {}
    for name, result in results.items():
        # the worker's outputs are clamped and quantised to 8 bits: its auto path is compared with its float32 one
        reference = results[WORKER_FLOAT32 if name == WORKER_AUTO else FLOAT32_BEFORE].output
        if result.times and reference is not None:
            per_mp[name] = statistics.median(result.times) / megapixels
            psnrs[name] = psnr_db(reference, result.output)
    adoptable = [name for name in per_mp if psnrs[name] >= ADOPT_DB and name != WORKER_AUTO]
    fastest = min(adoptable, key=per_mp.get) if adoptable else None
    rows = []
    for name, result in results.items():
        label = f"{case.label}, {case.side}² in: {name}"
        if name not in per_mp:
            rows.append(Row(SECTION, label, None, "s/MP", result.error))
            continue
        against = {FLOAT32_BEFORE: "the reference", WORKER_FLOAT32: "8-bit output, clamped",
                   WORKER_AUTO: f"PSNR {psnrs[name]:.1f} dB against the worker's float32 output"}
        notes = [against.get(name, f"PSNR {psnrs[name]:.1f} dB"), f"{base / per_mp[name]:.2f}× float32 before"]
        if name == fastest:
            notes.append(f"fastest at ≥ {ADOPT_DB:.0f} dB")
        rows.append(Row(SECTION, label, per_mp[name], "s/MP", "; ".join(notes)))
    return rows, per_mp


def run(quick: bool, threads: int | None = None) -> tuple[list[Row], dict]:
    """Rows for every case (the Compact one only with --quick) and {"cpu_upscale_speedup": ...}."""
    import torch

    from bench.cpu_paths import FLOAT32_BEFORE
    from workers.cpu_precision import cpu_precision, native_cpu_bf16

    threads = threads or max(1, (os.cpu_count() or 2) - 1)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    rows = [Row(SECTION, "CPU policy here", cpu_precision(), "",
                f"native bf16: {'yes' if native_cpu_bf16() else 'no'}; {threads} thread(s) for every runtime")]
    figures = {"cpu_upscale_speedup": math.nan}
    try:
        for case in CASES:
            if quick and not case.in_quick:
                continue
            print(f"[bench] {SECTION}: {case.label}…", file=sys.stderr, flush=True)
            case_table, per_mp = case_rows(case, measure(case, threads))
            rows += case_table
            if case.arch == "realesr-general-x4v3" and WORKER_AUTO in per_mp:
                speedup = per_mp[FLOAT32_BEFORE] / per_mp[WORKER_AUTO]
                figures["cpu_upscale_speedup"] = speedup
                rows.append(Row(SECTION, "default CPU 4x upscale: before ÷ now", speedup, "×",
                                f"{goal(speedup >= SPEEDUP_GOAL)} (≥ {SPEEDUP_GOAL:.0f})"))
    finally:
        torch.set_num_threads(previous_threads)
    return rows, figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cpu_speed", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the default 4x upscaler (Compact) only")
    parser.add_argument("--threads", type=int, default=None, help="threads for every runtime (default: cores - 1)")
    args = parser.parse_args(argv)
    rows, figures = run(args.quick, args.threads)
    print(render(rows))
    print()
    print(f"cpu_upscale_speedup={figures['cpu_upscale_speedup']:.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
