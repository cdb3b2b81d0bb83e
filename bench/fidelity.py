"""`python -m bench.fidelity [--quick]`: do the classical engines do good, and no harm, to real photos?

On scikit-image's bundled photos (bench/fidelity_photos.py) and degraded copies of them:
- enhance leaves a well-exposed photo nearly unchanged (mean CIEDE2000 <= 2) and moves each degraded copy closer
  to its original (lower CIEDE2000 and no lower SSIM);
- the 4x (and 2x) upscale of a copy shrunk by area averaging beats plain Lanczos in PSNR and SSIM;
- restore-face's detector reports no non-faces (precision >= 0.9 over photos with known faces and without);
- GrabCut background removal against the real U^2-Net's mask (IoU, and how much of the subject's dark and white
  parts it keeps), where the real weights can be had (fetched once, as the slow tests do).
Prints one table and a summary line, as the other bench modules do.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time

import numpy as np
from PIL import Image

from bench import fidelity_photos as photos
from bench.service import tests_module
from bench.table import Row, goal, render

WELL_EXPOSED_MAX_DE = 2.0
FACE_PRECISION_GOAL = 0.9
SECTION = "7 fidelity"


def _engine(engine, rgb: np.ndarray, params: dict | None = None):
    from workers.engines.base import EngineInput

    return engine(EngineInput(image=Image.fromarray(rgb), params=params or {}))


def _names(quick: bool) -> list[str]:
    return list(photos.QUICK_PHOTOS if quick else photos.PHOTOS)


def enhance_rows(quick: bool) -> tuple[list[Row], dict]:
    from workers.engines.enhance import classical_enhance

    rows, worst_well, closer, cases = [], 0.0, 0, 0
    for name in _names(quick):
        original = photos.photo(name)
        out = _engine(classical_enhance, original)
        change = photos.mean_delta_e(np.asarray(out.image), original)
        worst_well = max(worst_well, change)
        rows.append(Row(SECTION, f"enhance {name}, well-exposed", change, "ΔE00",
                        f"SSIM {photos.ssim(np.asarray(out.image), original):.3f}; applied "
                        f"{', '.join(out.info['corrections']) or 'nothing'}; "
                        f"{goal(change <= WELL_EXPOSED_MAX_DE)} (≤ {WELL_EXPOSED_MAX_DE})"))
        for label, degrade in photos.DEGRADATIONS.items():
            degraded = degrade(original)
            enhanced = np.asarray(_engine(classical_enhance, degraded).image)
            before, after = photos.mean_delta_e(degraded, original), photos.mean_delta_e(enhanced, original)
            ssim_before, ssim_after = photos.ssim(degraded, original), photos.ssim(enhanced, original)
            better = after < before and ssim_after >= ssim_before
            closer, cases = closer + better, cases + 1
            rows.append(Row(SECTION, f"enhance {name}, {label}", after, "ΔE00",
                            f"from {before:.2f}; SSIM {ssim_before:.3f} → {ssim_after:.3f}; "
                            f"{'closer' if better else 'NOT closer'}"))
    return rows, {"enhance_well_exposed_max_de": worst_well, "enhance_closer_share": closer / max(cases, 1)}


def upscale_rows(quick: bool) -> tuple[list[Row], dict]:
    import cv2

    from workers.engines.upscale import classical_upscale

    rows, gains = [], {2: [], 4: []}
    for scale in (4, 2):
        for name in _names(quick):
            original = photos.photo(name)
            height, width = (side - side % 4 for side in original.shape[:2])
            original = np.ascontiguousarray(original[:height, :width])
            small = cv2.resize(original, (width // scale, height // scale), interpolation=cv2.INTER_AREA)
            ours = np.asarray(_engine(classical_upscale, small, {"scale": scale}).image)
            lanczos = cv2.resize(small, (width, height), interpolation=cv2.INTER_LANCZOS4)
            db_gain = photos.psnr(ours, original) - photos.psnr(lanczos, original)
            ssim_gain = photos.ssim(ours, original) - photos.ssim(lanczos, original)
            gains[scale].append((db_gain, ssim_gain))
            rows.append(Row(SECTION, f"upscale {scale}x {name} vs Lanczos", db_gain, "dB PSNR",
                            f"PSNR {photos.psnr(ours, original):.2f} vs {photos.psnr(lanczos, original):.2f}; "
                            f"SSIM {photos.ssim(ours, original):.4f} vs {photos.ssim(lanczos, original):.4f}; "
                            f"{goal(db_gain > 0 and ssim_gain > 0)}"))
    return rows, {"upscale4_min_psnr_gain_db": min(g for g, _ in gains[4]),
                  "upscale4_min_ssim_gain": min(s for _, s in gains[4])}


def face_rows(quick: bool) -> tuple[list[Row], dict]:
    from workers.engines import restore_face

    cascade = restore_face._face_cascade()
    found = true_found = known = 0
    rows = []
    for label, rgb, faces in photos.face_set(quick):
        boxes = restore_face._detect_faces(cascade, rgb)
        hits = sum(any(f[0] <= (b[0] + b[2]) / 2 <= f[2] and f[1] <= (b[1] + b[3]) / 2 <= f[3] for b in boxes)
                   for f in faces)
        found, true_found, known = found + len(boxes), true_found + hits, known + len(faces)
        if boxes or faces:  # photos with nothing to find and nothing found are counted, not listed
            rows.append(Row(SECTION, f"restore-face detector: {label}", float(len(boxes)), "faces",
                            f"{hits} of {len(faces)} known face(s) found, {len(boxes) - hits} non-face(s)"))
    precision = true_found / found if found else 1.0
    recall = true_found / known if known else 1.0
    rows.append(Row(SECTION, "restore-face detector precision", precision, "",
                    f"{true_found} faces of {found} detections over {len(photos.face_set(quick))} photos; recall "
                    f"{recall:.2f}; {goal(precision >= FACE_PRECISION_GOAL)} (≥ {FACE_PRECISION_GOAL})"))
    return rows, {"face_precision": precision, "face_recall": recall}


def _real_weights():
    """The tests' real-weights module: U^2-Net fetched once into ~/.cache/pixelforge/weights, and rembg's alpha."""
    real_weights = tests_module("real_weights")
    # rembg's import compiles pymatting with numba: cache it where the tests do, not in site-packages.
    os.environ.setdefault("NUMBA_CACHE_DIR", str(real_weights.cache_dir().parent / "numba"))
    return real_weights


def background_rows(quick: bool) -> tuple[list[Row], dict]:
    import cv2

    from workers.engines.background import classical_remove_background

    real_weights = _real_weights()
    path, why = real_weights.fetched_file("rembg-u2net")
    if path is None:
        return [Row(SECTION, "GrabCut vs U²-Net", None, "", f"skipped: {why}")], {}
    rows, scores = [], []
    for name in _names(quick):
        original = photos.photo(name)
        truth = real_weights.rembg_alpha(path, Image.fromarray(original)) >= 128
        ours = np.asarray(_engine(classical_remove_background, original).image.getchannel("A")) >= 128
        luma = cv2.cvtColor(original, cv2.COLOR_RGB2GRAY)
        dark, white = truth & (luma < 60), truth & (luma > 190)
        kept = [f"{(ours & part).sum() / part.sum():.0%}" if part.sum() else "—" for part in (dark, white)]
        scores.append(photos.iou(ours, truth))
        rows.append(Row(SECTION, f"GrabCut vs U²-Net: {name}", scores[-1], "IoU",
                        f"subject {truth.mean():.0%} of the photo (GrabCut {ours.mean():.0%}); keeps {kept[0]} of its "
                        f"dark and {kept[1]} of its white parts"))
    return rows, {"grabcut_iou": float(np.mean(scores))}


def run(quick: bool) -> tuple[list[Row], dict]:
    """All four checks: (rows, summary figures)."""
    rows, figures = [], {}
    for check in (enhance_rows, upscale_rows, face_rows, background_rows):
        started = time.monotonic()
        print(f"[bench] fidelity: {check.__name__}…", file=sys.stderr, flush=True)
        check_rows, check_figures = check(quick)
        rows += check_rows
        figures.update(check_figures)
        print(f"[bench] fidelity: {check.__name__} done in {time.monotonic() - started:.1f} s", file=sys.stderr)
    return rows, figures


SUMMARY = ("enhance_well_exposed_max_de", "enhance_closer_share", "upscale4_min_psnr_gain_db",
           "upscale4_min_ssim_gain", "face_precision", "grabcut_iou")


def summary_line(figures: dict) -> str:
    return " ".join(f"{name}={figures.get(name, math.nan):.3g}" for name in SUMMARY)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fidelity", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two photos and fewer face cases")
    args = parser.parse_args(argv)
    rows, figures = run(args.quick)
    print(render(rows))
    print()
    print(summary_line(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
