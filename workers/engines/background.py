"""Classical background removal: border-seeded GrabCut, refined into a soft alpha with a guided filter.

Without a model we only know one thing about a typical product or portrait photo: the subject is away from the
edges. So the image border seeds GrabCut's background colour model and the rest seeds the foreground model. GrabCut
runs on a small working copy (its cost is pixels x iterations); its hard mask is then upsampled and edge-aligned
at full resolution with a guided filter, which gives soft, anti-aliased edges that follow the real contours.
When no plausible subject is found (uniform image, everything or nothing cut) the image comes back fully opaque
and info["method"] says why: an untouched image is a better answer than an empty one.
"""
from __future__ import annotations

import cv2
import numpy as np

from workers.engines.base import EngineInput, EngineOutput
from workers.engines.pixels import join_rgb_alpha, split_rgb_alpha, to_uint8

WORK_MAX_SIDE = 400
# GrabCut needs room for a background border and a foreground centre; tiny images are enlarged to this.
WORK_MIN_SIDE = 32
BORDER_FRACTION = 0.06
GRABCUT_ITERATIONS = 5
UNIFORM_STD = 2.0
# Blobs smaller than this share of the working image are speckle, not subject.
MIN_BLOB_FRACTION = 0.005
# A "subject" covering more than this is GrabCut giving up rather than a finding.
MAX_FOREGROUND_FRACTION = 0.97
# A "subject" that covers most of the border band is usually background and subject swapped.
MAX_BORDER_FOREGROUND = 0.5
GUIDED_EPS = 1e-3


def classical_remove_background(inp: EngineInput) -> EngineOutput:
    """Cut the subject out as "RGBA"; params such as {"format": ...} concern encoding and are ignored."""
    rgb, old_alpha = split_rgb_alpha(inp.image)
    height, width = rgb.shape[:2]
    everything = np.full((height, width), 255, np.uint8)

    if rgb.reshape(-1, 3).std(axis=0).max() < UNIFORM_STD:
        # Nothing to separate: returning the image opaque is more useful than a fully transparent one.
        alpha, method = everything, "uniform_image"
    else:
        hard = _grabcut_foreground(rgb)
        inp.progress(0.6)
        if hard is None:
            alpha, method = everything, "no_subject_found"
        else:
            alpha, method = _soft_alpha(hard, rgb), "grabcut"

    if old_alpha is not None:
        # Pixels that were already transparent stay transparent.
        alpha = ((alpha.astype(np.uint16) * old_alpha.astype(np.uint16) + 127) // 255).astype(np.uint8)
    inp.progress(1.0)
    return EngineOutput(
        image=join_rgb_alpha(rgb, alpha),
        engine="classical",
        model=None,
        info={"foreground_fraction": round(float(alpha.mean()) / 255.0, 4), "method": method},
    )


def _grabcut_foreground(rgb: np.ndarray) -> np.ndarray | None:
    """Foreground as a float32 0/1 map at working size, or None when GrabCut finds no subject."""
    height, width = rgb.shape[:2]
    factor = min(1.0, WORK_MAX_SIDE / max(height, width))
    # Each side is scaled on its own so that very thin images still get a usable working size.
    work_size = (max(WORK_MIN_SIDE, round(width * factor)), max(WORK_MIN_SIDE, round(height * factor)))
    shrinking = work_size[0] * work_size[1] < width * height
    work = cv2.resize(rgb, work_size, interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    # GrabCut's edge term weighs colour differences in the space it is given. In YCrCb the steps in brightness
    # inside one subject (a black helmet and collar on a white suit) weigh less against changes of hue than in RGB,
    # so dark and white parts of a subject stay with it (bench/fidelity.py: IoU against U^2-Net's mask).
    work = cv2.cvtColor(work, cv2.COLOR_RGB2YCrCb)

    border = max(2, round(BORDER_FRACTION * min(work.shape[:2])))
    # Only "probable" seeds first, so a subject that touches the frame can keep its edge pixels.
    foreground = _run_grabcut(work, border, anchor_frame=False)
    if not _is_plausible_cut(foreground, border):
        # With nothing certain GrabCut can call everything foreground or swap subject and background; a
        # one-pixel ring of certain background anchors the cut (and is given back to a subject cut by the frame).
        foreground = _run_grabcut(work, border, anchor_frame=True)
        if not _is_plausible_cut(foreground, border):
            return None
        _extend_to_frame(foreground)
    foreground = _remove_speckle(foreground)
    if foreground.mean() < MIN_BLOB_FRACTION:
        return None
    return foreground.astype(np.float32)


def _run_grabcut(work: np.ndarray, border: int, anchor_frame: bool) -> np.ndarray | None:
    """GrabCut seeded with a probable-background border and a probable-foreground centre; 0/1 uint8 or None."""
    labels = np.full(work.shape[:2], cv2.GC_PR_FGD, np.uint8)
    labels[:border, :] = cv2.GC_PR_BGD
    labels[-border:, :] = cv2.GC_PR_BGD
    labels[:, :border] = cv2.GC_PR_BGD
    labels[:, -border:] = cv2.GC_PR_BGD
    if anchor_frame:
        labels[[0, -1], :] = cv2.GC_BGD
        labels[:, [0, -1]] = cv2.GC_BGD
    background_model = np.zeros((1, 65), np.float64)
    foreground_model = np.zeros((1, 65), np.float64)
    # GrabCut seeds its colour models with k-means on OpenCV's global RNG; a fixed seed makes a re-run of the
    # same job give the same cut-out.
    cv2.setRNGSeed(0)
    try:
        cv2.grabCut(
            work, labels, None, background_model, foreground_model, GRABCUT_ITERATIONS, cv2.GC_INIT_WITH_MASK
        )
    except cv2.error:
        # GrabCut refuses degenerate colour statistics (e.g. too few distinct colours); no answer then.
        return None
    return np.isin(labels, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.uint8)


def _is_plausible_cut(foreground: np.ndarray | None, border: int) -> bool:
    """A usable cut leaves some of the frame to the background and does not take (nearly) everything."""
    if foreground is None or foreground.mean() > MAX_FOREGROUND_FRACTION:
        return False
    inner = foreground[border:-border, border:-border]
    border_share = (foreground.sum() - inner.sum()) / max(1, foreground.size - inner.size)
    return border_share <= MAX_BORDER_FOREGROUND


def _extend_to_frame(foreground: np.ndarray) -> None:
    """Give the anchoring ring the labels just inside it, so subjects cut by the frame reach the edge."""
    foreground[0, :] = foreground[1, :]
    foreground[-1, :] = foreground[-2, :]
    foreground[:, 0] = foreground[:, 1]
    foreground[:, -1] = foreground[:, -2]


def _remove_speckle(foreground: np.ndarray) -> np.ndarray:
    """Open/close the mask and drop blobs too small to be the subject."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
    foreground = cv2.morphologyEx(foreground, cv2.MORPH_OPEN, kernel)
    foreground = cv2.morphologyEx(foreground, cv2.MORPH_CLOSE, kernel)
    count, blobs, stats, _ = cv2.connectedComponentsWithStats(foreground, connectivity=8)
    min_area = MIN_BLOB_FRACTION * foreground.size
    keep = np.zeros(count, np.uint8)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= min_area
    return keep[blobs]


def _soft_alpha(hard: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """Upsample the hard mask and let a guided filter snap its edge to the full-resolution image."""
    height, width = rgb.shape[:2]
    coarse = cv2.resize(hard, (width, height), interpolation=cv2.INTER_LINEAR)
    # The working copy's pixel size bounds how far off the coarse edge can be; the filter reaches that far.
    radius = max(2, round(max(height, width) / max(hard.shape) * 2))
    guide = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    refined = _guided_filter(guide, coarse, radius, GUIDED_EPS)

    # Far from the coarse edge the answer is certain; only the band around it may be soft.
    decided = (coarse >= 0.5).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    inside = cv2.erode(decided, kernel).astype(bool)
    outside = ~cv2.dilate(decided, kernel).astype(bool)
    refined = np.clip(refined, 0.0, 1.0)
    refined[inside] = 1.0
    refined[outside] = 0.0
    return to_uint8(refined * 255.0)


def _guided_filter(guide: np.ndarray, source: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """He et al.'s grey-guide guided filter: smooths `source` while following the edges of `guide`."""
    window = (2 * radius + 1, 2 * radius + 1)

    def box_mean(values: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(values, cv2.CV_32F, window, borderType=cv2.BORDER_REFLECT)

    mean_guide = box_mean(guide)
    mean_source = box_mean(source)
    covariance = box_mean(guide * source) - mean_guide * mean_source
    variance = box_mean(guide * guide) - mean_guide * mean_guide
    slope = covariance / (np.maximum(variance, 0.0) + eps)
    offset = mean_source - slope * mean_guide
    return box_mean(slope) * guide + box_mean(offset)
