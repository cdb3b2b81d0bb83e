"""U^2-Net on other runtimes than rembg's ONNX Runtime session: would one be faster without changing the alpha?

Part of section 9 (bench/rembg_ratio.py). rembg's own session is the reference; the other runtimes stand in for its
ONNX Runtime session inside the same rembg session object, so pre- and post-processing are rembg's code. Each
runtime: milliseconds per photo (median of the rounds, summed over the photos), its time as a share of rembg's, and
its alpha against rembg's: the lowest PSNR over the photos (the bar the CPU paths are held to, 45 dB), the lowest
IoU of the masks at half opacity and the largest difference in grey levels.
"""
from __future__ import annotations

import math
import os
import statistics
import time
from pathlib import Path

import numpy as np
from PIL import Image

from bench.table import Row

ADOPT_DB = 45.0


class _OpenVinoAsOnnxSession:
    """Enough of onnxruntime.InferenceSession for rembg's predict(): the input names (from the session it
    replaces) and run(None, feed) -> [first output]."""

    def __init__(self, replaced, run_inputs):
        self.get_inputs = replaced.get_inputs
        self.run_inputs = run_inputs

    def run(self, _outputs, feed: dict) -> list[np.ndarray]:
        return [self.run_inputs(list(feed.values()))]


def _sessions(weights: Path) -> tuple[dict, str]:
    """{label: rembg session} with rembg's own first, and why any runtime is missing ("" when none is)."""
    from rembg import new_session

    from bench.cpu_paths import PathUnavailable, openvino_path

    os.environ["U2NET_HOME"] = str(weights.parent)  # rembg accepts model files only under its home folder
    threads = os.cpu_count() or 1  # rembg's ONNX Runtime session uses every core too

    def rembg_session():
        return new_session("u2net_custom", model_path=str(weights), providers=["CPUExecutionProvider"])

    sessions, missing = {"ONNX Runtime float32 (rembg's)": rembg_session()}, []
    for precision in ("f32", "bf16"):
        try:
            runner = openvino_path(weights, threads, precision)
        except PathUnavailable as error:
            missing.append(f"OpenVINO {precision}: {error}")
            continue
        session = rembg_session()
        session.inner_session = _OpenVinoAsOnnxSession(session.inner_session, runner)
        sessions[f"OpenVINO {'float32' if precision == 'f32' else 'bf16'}"] = session
    return sessions, "; ".join(missing)


def _alpha_agreement(reference: np.ndarray, other: np.ndarray) -> tuple[float, float, int]:
    """(PSNR dB, IoU at half opacity, largest difference) of two 8-bit alpha masks."""
    a, b = reference.astype(np.float64), other.astype(np.float64)
    mse = float(np.mean((a - b) ** 2))
    psnr = math.inf if mse == 0 else 10 * math.log10(255 ** 2 / mse)
    union = np.count_nonzero((a > 127) | (b > 127))
    iou = np.count_nonzero((a > 127) & (b > 127)) / union if union else 1.0
    return psnr, iou, int(np.max(np.abs(a - b)))


def measure(weights: Path, photos: dict[str, Image.Image], rounds: int) -> tuple[dict, str]:
    """{label: {"seconds": {photo: [..]}, "agreement": {photo: (psnr, iou, max diff)}}}, and what is missing."""
    sessions, missing = _sessions(weights)
    reference_label = next(iter(sessions))
    masks = {label: {name: np.asarray(session.predict(image)[0]) for name, image in photos.items()}
             for label, session in sessions.items()}  # also the warm-up call of every runtime
    figures = {label: {"seconds": {name: [] for name in photos},
                       "agreement": {name: _alpha_agreement(masks[reference_label][name], masks[label][name])
                                     for name in photos}}
               for label in sessions}
    order = list(sessions.items())
    for turn in range(rounds):
        for name, image in photos.items():
            for label, session in order if turn % 2 == 0 else order[::-1]:
                started = time.perf_counter()
                session.predict(image)
                figures[label]["seconds"][name].append(time.perf_counter() - started)
    return figures, missing


def rows(section: str, weights: Path, photos: dict[str, Image.Image], rounds: int) -> list[Row]:
    figures, missing = measure(weights, photos, rounds)
    totals = {label: sum(statistics.median(times) for times in f["seconds"].values()) for label, f in figures.items()}
    reference = next(iter(totals.values()))
    table = []
    for label, f in figures.items():
        psnr, iou, largest = (min(values) if i < 2 else max(values)
                              for i, values in enumerate(zip(*f["agreement"].values())))
        same = "identical alpha" if largest == 0 else (
            f"alpha against rembg's: ≥ {psnr:.1f} dB ({'meets' if psnr >= ADOPT_DB else 'below'} the "
            f"{ADOPT_DB:.0f} dB bar), IoU ≥ {iou:.3f}, up to {largest} grey levels apart")
        table.append(Row(section, f"U²-Net on {label}: time ÷ rembg's", totals[label] / reference, "×",
                         f"{totals[label] * 1000 / len(photos):.0f} ms per photo (rembg's predict(), median of "
                         f"{rounds}); {same}"))
    if missing:
        table.append(Row(section, "U²-Net on OpenVINO", "n/a", "", missing))
    return table
