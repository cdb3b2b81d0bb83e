"""Section 6, large images: a 4x upscale of 2000×1500 (a 48 MP result) through tiles, its peak RSS against the
output array; tiled against untiled output; and the API's 422 for results past the output-pixel cap."""
from __future__ import annotations

import io
import time

import numpy as np

from bench.case import run_case
from bench.table import Row

SECTION = "6 large images"
WIDTH, HEIGHT = 2000, 1500


def upscale_case(width: int, height: int, engine: str) -> dict:
    """In a fresh process: one 4x upscale job's engine call, then its PNG encoding; memory after each."""
    from PIL import Image

    from bench.fixtures import photo
    from bench.memory import peak_mb, reset_peak, rss_mb
    from pixelforge.config import Defaults
    from pixelforge.images import encode_result
    from workers.engines.base import EngineInput

    inp = EngineInput(Image.fromarray(photo(width, height)), {"scale": 4})
    if engine == "model":
        from bench.modelrun import ModelJob
        from workers.inference import run_model_engine

        models_dir = ModelJob("realesr-general-x4v3", {"scale": 4}, 64, 48, size="tiny").models_dir

        def upscale(engine_input):
            return run_model_engine("upscale", engine_input, models_dir)
    else:
        from workers.engines.upscale import classical_upscale as upscale
    upscale(EngineInput(Image.fromarray(photo(64, 48)), {"scale": 4}))  # load and warm up on a small picture
    before = rss_mb()
    reset_peak()
    start = time.perf_counter()
    output = upscale(inp)
    engine_s = time.perf_counter() - start
    engine_peak = peak_mb()
    start = time.perf_counter()
    data, _ = encode_result(output.image, "png", Defaults.PNG_COMPRESS_LEVEL)
    encode_s = time.perf_counter() - start
    return {"before_mb": before, "engine_peak_mb": engine_peak, "total_peak_mb": peak_mb(), "engine_s": engine_s,
            "encode_s": encode_s, "png_mb": len(data) / 1e6, "output_mb": width * 4 * height * 4 * 3 / 1e6,
            "out_size": f"{output.image.width}×{output.image.height}", "engine": output.engine}


def tiling_case(model: str, width: int, height: int, tile: int) -> dict:
    """Real-size weights: the network's output with `tile`-pixel tiles against one tile covering everything."""
    from bench.fixtures import photo
    from bench.modelrun import ModelJob
    from workers.inference.upscale import apply_network, get_upscaler

    job = ModelJob(model, {"scale": 4}, width, height)
    descriptor = get_upscaler(model, job.models_dir)
    rgb = photo(width, height)
    tiled = apply_network(descriptor, rgb, tile=tile).astype(np.float64)
    whole = apply_network(descriptor, rgb, tile=max(width, height)).astype(np.float64)
    mse = float(((tiled - whole) ** 2).mean())
    return {"psnr": float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse),
            "max_diff": float(np.abs(tiled - whole).max())}


def _upscale_rows(label: str, r: dict) -> list[Row]:
    if "error" in r:
        return [Row(SECTION, label, None, "", f"failed: {r['error']}")]
    grew = r["engine_peak_mb"] - r["before_mb"]
    grew_total = r["total_peak_mb"] - r["before_mb"]
    return [
        Row(SECTION, f"{label}: engine peak RSS over the process before", grew, "MB",
            f"= {grew / r['output_mb']:.1f}× the {r['out_size']} uint8 output ({r['output_mb']:.0f} MB); "
            f"engine {r['engine_s']:.1f} s; process before {r['before_mb']:.0f} MB"),
        Row(SECTION, f"{label}: with PNG encoding, peak RSS over before", grew_total, "MB",
            f"= {grew_total / r['output_mb']:.1f}× output; encode {r['encode_s']:.1f} s → {r['png_mb']:.0f} MB PNG"),
    ]


def output_cap_rows(service) -> list[Row]:
    """Submit a 2100×2000 image for a 4x upscale (67.2 MP result) and expect 422 output_too_large."""
    from PIL import Image

    from pixelforge.config import Defaults

    yy, xx = np.mgrid[0:2000, 0:2100]
    picture = np.stack([xx % 256, yy % 256, (xx + yy) % 256], axis=2).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, format="PNG", compress_level=1)
    start = time.perf_counter()
    response = service.session().post(f"{service.base}/api/v1/upscale", data={"scale": "4"},
                                      files={"image": ("big.png", buffer.getvalue(), "image/png")}, timeout=60)
    seconds = time.perf_counter() - start
    code = (response.json().get("error") or {}).get("code") if response.status_code != 202 else "accepted"
    ok = response.status_code == 422 and code == "output_too_large"
    return [Row(SECTION, "API: 4x upscale of 2100×2000 (67.2 MP > cap)", response.status_code, "HTTP",
                f"{code}; {'as expected' if ok else 'UNEXPECTED'}; answered in {seconds * 1000:.0f} ms "
                f"({len(buffer.getvalue()) / 1e6:.1f} MB upload); MAX_OUTPUT_PIXELS {Defaults.MAX_OUTPUT_PIXELS:,}")]


def run() -> list[Row]:
    """The memory and tiling cases (output_cap_rows needs the running service and is called beside it)."""
    rows = _upscale_rows(f"tiled model 4x of {WIDTH}×{HEIGHT} (tiny Compact weights)",
                          run_case("bench.large_images:upscale_case", width=WIDTH, height=HEIGHT, engine="model"))
    rows += _upscale_rows(f"classical 4x of {WIDTH}×{HEIGHT} (in strips)",
                          run_case("bench.large_images:upscale_case", width=WIDTH, height=HEIGHT, engine="classical"))
    for model, (width, height), tile in (("realesr-general-x4v3", (192, 144), 64),):
        r = run_case("bench.large_images:tiling_case", model=model, width=width, height=height, tile=tile)
        if "error" in r:
            rows.append(Row(SECTION, f"tiled = untiled, {model}", None, "", f"failed: {r['error']}"))
            continue
        rows.append(Row(SECTION, f"tiled ({tile}px tiles) vs untiled, {model} real size, {width}×{height}",
                        r["psnr"], "dB", f"max |diff| {r['max_diff']:.0f}/255; goal ≥ 50 dB: "
                                         f"{'met' if r['psnr'] >= 50 else 'NOT met'} (random weights fade with "
                                         "distance, so this checks the tile bookkeeping more than the pad)"))
    return rows
