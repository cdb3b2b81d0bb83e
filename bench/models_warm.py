"""Section 4, warm models: the first job of a model engine loads it, the second finds it loaded (random weights
in the real architectures, so no download)."""
from __future__ import annotations

from bench.case import run_case
from bench.table import Row

SECTION = "4 warm models"

# label, registry entry, params, input width×height, in --quick
CASES = [
    ("Compact x4 (realesr-general-x4v3), 64² in", "realesr-general-x4v3", {"scale": 4}, (64, 64), True),
    ("RRDBNet x4plus (realesrgan-x4plus), 64² in", "realesrgan-x4plus", {"scale": 4}, (64, 64), False),
    ("GFPGAN v1.4, one aligned 512² face", "gfpgan-1.4", {"fidelity": 0.5}, (512, 512), False),
    ("Big-LaMa, 512² with a mask", "lama", {}, (512, 512), False),
]
SKIPPED = [
    ("SD inpainting", "no real-size pipeline on a CPU host (~2 GB of weights, ~10 s per UNet step); the tests' "
                      "tiny pipeline is a few MB of random weights, so its timings say nothing about SD. "
                      "UNet steps/s: bench/gpu.py"),
    ("rembg (IS-Net / U²-Net)", "the real ONNX weights cannot be generated offline; section 5 times rembg's own "
                                "processing around a one-layer stand-in"),
]


def warm_case(model: str, params: dict, width: int, height: int) -> dict:
    """In a fresh process: two jobs through the engine and its warm cache, timing the load inside the first."""
    from bench.memory import rss_mb
    from bench.modelrun import LoadTimer, ModelJob

    job = ModelJob(model, params, width, height)
    imports = job.import_libraries()
    timer = LoadTimer()
    first = job.job()
    loads_after_first = list(timer.loads)
    second = job.job()
    return {"imports_s": imports, "first_s": first, "load_s": sum(loads_after_first), "second_s": second,
            "loads_in_second": len(timer.loads) - len(loads_after_first), "rss_mb": rss_mb()}


def run(quick: bool) -> list[Row]:
    rows = []
    for label, model, params, (width, height), in_quick in CASES:
        if quick and not in_quick:
            continue
        result = run_case("bench.models_warm:warm_case", model=model, params=params, width=width, height=height)
        if "error" in result:
            rows.append(Row(SECTION, label, None, "", f"failed: {result['error']}"))
            continue
        rows += [
            Row(SECTION, f"{label}: first job", result["first_s"], "s",
                f"of which model load {result['load_s']:.2f} s, run {result['first_s'] - result['load_s']:.2f} s "
                f"(torch/spandrel imported before: {result['imports_s']:.1f} s)"),
            Row(SECTION, f"{label}: second job", result["second_s"], "s",
                f"loads in the second job: {result['loads_in_second']}; RSS with the model {result['rss_mb']:.0f} MB"),
        ]
    for label, why in SKIPPED:
        rows.append(Row(SECTION, label, None, "", f"skipped: {why}"))
    return rows
