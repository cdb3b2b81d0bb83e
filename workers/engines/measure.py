"""What the classical engines measure before they change a photo: light (sRGB <-> linear), noise, the colour of
the light, and the tonal range. Enhance corrects only what these say is wrong (a well-exposed photo is left alone).
"""
from __future__ import annotations

import functools

import cv2
import numpy as np

# Pixels near either end have lost their colour (clipped or crushed) and would bias a colour-of-light estimate.
USABLE_RANGE = (4, 250)
LINEAR_LEVELS = 4096  # resolution of the linear -> sRGB lookup (finer than 8-bit sRGB needs everywhere)


@functools.lru_cache(maxsize=1)
def _srgb_to_linear_table() -> np.ndarray:
    values = np.arange(256, dtype=np.float64) / 255.0
    return np.where(values <= 0.04045, values / 12.92, ((values + 0.055) / 1.055) ** 2.4).astype(np.float32)


@functools.lru_cache(maxsize=1)
def _linear_to_srgb_table() -> np.ndarray:
    linear = np.linspace(0.0, 1.0, LINEAR_LEVELS)
    encoded = np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)
    return np.clip(np.rint(encoded * 255.0), 0, 255).astype(np.uint8)


def to_linear(rgb: np.ndarray) -> np.ndarray:
    """uint8 sRGB -> float32 linear light in [0, 1] (a table lookup)."""
    return _srgb_to_linear_table()[rgb]


def to_srgb(linear: np.ndarray) -> np.ndarray:
    """float linear light -> uint8 sRGB, clipping out-of-range light (a table lookup)."""
    index = np.clip(linear * (LINEAR_LEVELS - 1) + 0.5, 0, LINEAR_LEVELS - 1).astype(np.int32)
    return _linear_to_srgb_table()[index]


def luma(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def noise_sigma(rgb: np.ndarray) -> float:
    """Grey-level noise standard deviation (Immerkaer's operator, median instead of mean): texture and edges
    occupy a minority of pixels, so the median answers for the flat ones, where noise is what remains."""
    grey = luma(rgb).astype(np.float32)
    if min(grey.shape) < 3:
        return 0.0
    laplacian_difference = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
    response = np.abs(cv2.filter2D(grey, -1, laplacian_difference)[1:-1, 1:-1])
    # For Gaussian noise the median of |response| is 0.6745 sigma_response, and sigma_response = 6 sigma.
    return float(np.median(response) / (0.6745 * 6.0))


def light_colour(rgb: np.ndarray, linear: np.ndarray) -> np.ndarray | None:
    """The colour of the scene's light as linear RGB relative to green, (r/g, 1, b/g), or None without evidence.

    Three classic estimators, each fooled by different scenes, are averaged in log space: shades of grey
    (Minkowski p=6 mean), white patch (99.5th percentile) and grey edge (p=6 mean of the gradients)."""
    low, high = USABLE_RANGE
    usable = (rgb.max(axis=2) < high) & (rgb.min(axis=2) > low)
    if usable.sum() < max(64, 0.02 * usable.size):
        return None
    pixels = linear[usable].astype(np.float64)
    shades_of_grey = np.mean(pixels ** 6, axis=0) ** (1 / 6)
    white_patch = np.percentile(pixels, 99.5, axis=0)
    blurred = cv2.GaussianBlur(linear, (0, 0), 1.0)
    gradient = np.hypot(cv2.Sobel(blurred, cv2.CV_32F, 1, 0), cv2.Sobel(blurred, cv2.CV_32F, 0, 1))
    grey_edge = np.mean(gradient[usable].astype(np.float64) ** 6, axis=0) ** (1 / 6)
    estimates = np.stack([shades_of_grey, white_patch, grey_edge])
    if (estimates <= 1e-6).any():
        return None
    colour = np.exp(np.log(estimates).mean(axis=0))
    return colour / colour[1]


def tonal_range(rgb: np.ndarray) -> tuple[float, float]:
    """(black, white) in sRGB grey levels: the 0.5th percentile of each pixel's darkest channel and the 99.5th of
    its brightest, so that a stretch between them clips no channel (as luma-based levels would under a cast)."""
    return float(np.percentile(rgb.min(axis=2), 0.5)), float(np.percentile(rgb.max(axis=2), 99.5))


def linear_white(linear: np.ndarray) -> float:
    """The 99.5th percentile of each pixel's brightest channel in linear light: how bright the real highlights
    are (the brightest channel, so a colour cast that dims red or blue does not read as under-exposure)."""
    return float(np.percentile(linear.max(axis=2), 99.5))


def ramp(value: float, start: float, full: float) -> float:
    """0 at `start`, 1 at `full` (either direction), smooth in between: how sure a measurement is."""
    t = float(np.clip((value - start) / (full - start), 0.0, 1.0))
    return t * t * (3.0 - 2.0 * t)
