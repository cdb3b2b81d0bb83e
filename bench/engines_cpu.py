"""Section 5, engines on CPU: MP/s and peak RSS of each operation's classical engine at 0.25, 1 and 4 MP, and
of the model engines (random weights, real architectures) at sizes that finish in seconds. Every case runs
in a fresh process; MP/s that stays flat across sizes means cost linear in pixels."""
from __future__ import annotations

import time

from bench.case import run_case
from bench.table import Row

SECTION = "5 engines on CPU"
MODEL_SECONDS = 3.0  # model cases repeat their timed job (up to 3 runs) while they have spent less than this

# label, operation, params, largest size in MP (None: all)
CLASSICAL = [
    ("upscale ×2", "upscale", {"scale": 2}, None),
    ("upscale ×4", "upscale", {"scale": 4}, 1.0),  # 4 MP in would be a 64 MP result, past the output cap
    ("enhance", "enhance", {}, None),
    ("remove-background", "remove-background", {}, None),
    ("restore-face", "restore-face", {"fidelity": 0.5}, None),
    ("erase-object (10 % mask)", "erase-object", {}, None),
]
# label, registry entry, params, square input sides, in --quick
MODELS = [
    ("Compact x4 (realesr-general-x4v3)", "realesr-general-x4v3", {"scale": 4}, (64, 128, 256), False),
    ("RRDBNet x4plus (realesrgan-x4plus)", "realesrgan-x4plus", {"scale": 4}, (32, 64), False),
    ("GFPGAN v1.4, per aligned face", "gfpgan-1.4", {"fidelity": 0.5}, (512,), False),
    ("Big-LaMa (erase-object)", "lama", {}, (256, 512), False),
    ("rembg with a one-layer stand-in ONNX (rembg's own processing)", "rembg-u2net", {}, (512, 1024), False),
]


def classical_case(operation: str, params: dict, megapixels: float, repeats: int) -> dict:
    """In a fresh process: warm the engine on a small picture, then time it on a `megapixels` photo."""
    from PIL import Image

    from bench.fixtures import centre_mask, photo, size_for_megapixels
    from bench.memory import reset_peak, rss_mb, peak_mb
    from workers.engines import classical_engine
    from workers.engines.base import EngineInput, NoFaceFound

    engine = classical_engine(operation)

    def engine_input(width: int, height: int) -> EngineInput:
        mask = Image.fromarray(centre_mask(width, height)) if operation == "erase-object" else None
        return EngineInput(Image.fromarray(photo(width, height)), params, mask)

    try:
        engine(engine_input(64, 48))  # one-off lazy set-up (OpenCV tables, cascades) is not per-pixel cost
    except NoFaceFound:  # restore-face: the cascade is loaded by then; a 64×48 photo has no face it can find
        pass
    width, height = size_for_megapixels(megapixels)
    inp = engine_input(width, height)
    before = rss_mb()
    reset_peak()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        output = engine(inp)
        times.append(time.perf_counter() - start)
        del output
    return {"seconds": min(times), "runs": repeats, "megapixels": width * height / 1e6, "size": f"{width}×{height}",
            "rss_before_mb": before, "peak_mb": peak_mb()}


def model_case(model: str, params: dict, side: int) -> dict:
    """In a fresh process: a first job (load, warm-up), then a timed second job with its own memory peak."""
    from bench.memory import peak_mb, reset_peak, rss_mb
    from bench.modelrun import ModelJob

    job = ModelJob(model, params, side, side)
    job.job()
    before = rss_mb()
    reset_peak()
    times = [job.job()]
    while len(times) < 3 and sum(times) < MODEL_SECONDS:
        times.append(job.job())
    megapixels = 512 * 512 / 1e6 if model == "gfpgan-1.4" else side * side / 1e6
    return {"seconds": min(times), "runs": len(times), "megapixels": megapixels, "size": f"{side}×{side}",
            "rss_before_mb": before, "peak_mb": peak_mb()}


def _row(label: str, result: dict) -> Row:
    if "error" in result:
        return Row(SECTION, label, None, "", f"failed: {result['error']}")
    grew = result["peak_mb"] - result["rss_before_mb"]
    return Row(SECTION, f"{label} @ {result['size']}", result["megapixels"] / result["seconds"], "MP/s",
               f"{result['seconds']:.3f} s, best of {result['runs']}; peak RSS {result['peak_mb']:.0f} MB "
               f"(+{grew:.0f} MB over the process before the job)")


def _linearity(label: str, results: list[dict]) -> Row | None:
    ok = [r for r in results if "error" not in r]
    if len(ok) < 2:
        return None
    rates = [r["megapixels"] / r["seconds"] for r in ok]
    spread = rates[-1] / rates[0]
    return Row(SECTION, f"{label}: MP/s largest ÷ smallest size", spread, "×",
               "≈1: linear in pixels; <1: superlinear; >1: fixed costs amortised")


def run(quick: bool) -> list[Row]:
    sizes = (0.25, 1.0) if quick else (0.25, 1.0, 4.0)
    rows = []
    for label, operation, params, largest in CLASSICAL:
        results = []
        for megapixels in sizes:
            if largest is not None and megapixels > largest:
                continue
            repeats = 1 if quick else (2 if megapixels > 1 else 3)  # best of `repeats`: neighbours add noise
            results.append(run_case("bench.engines_cpu:classical_case", operation=operation, params=params,
                                    megapixels=megapixels, repeats=repeats))
            rows.append(_row(f"classical {label}", results[-1]))
        linear = _linearity(f"classical {label}", results)
        if linear:
            rows.append(linear)
    for label, model, params, sides, in_quick in MODELS:
        if quick and not in_quick:
            continue
        results = []
        for side in sides:
            results.append(run_case("bench.engines_cpu:model_case", model=model, params=params, side=side))
            rows.append(_row(f"model {label}", results[-1]))
        linear = _linearity(f"model {label}", results)
        if linear:
            rows.append(linear)
    return rows
