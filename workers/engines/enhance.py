"""Classical one-click enhancement: white balance, levels, local contrast, a little colour and crispness.

Every step is bounded so that a photo that was already fine comes out nearly unchanged and a flat or
single-colour image cannot blow up: white-balance gains are clipped, the levels stretch has a maximum gain and is
skipped when there is no tonal range to stretch, and no step divides by a value that can be zero.
"""
from __future__ import annotations

import cv2
import numpy as np

from workers.engines.base import EngineInput, EngineOutput
from workers.engines.pixels import join_rgb_alpha, split_rgb_alpha, to_uint8, unsharp_mask

# Gray-world gains outside this range mean the scene is really that colour, not lit by a coloured light.
WHITE_BALANCE_GAIN_RANGE = (0.67, 1.5)
# Below this spread (grey levels) an image is treated as flat: there is nothing to balance or stretch.
FLAT_IMAGE_STD = 2.0
LEVELS_PERCENTILES = (0.5, 99.5)
LEVELS_MAX_GAIN = 3.0
CLAHE_CLIP_LIMIT = 1.5
CLAHE_WEIGHT = 0.5
CLAHE_MIN_SIDE = 16
CHROMA_BOOST = 1.12
SHARPEN_AMOUNT = 0.35


def classical_enhance(inp: EngineInput) -> EngineOutput:
    """Auto white balance, exposure/contrast, saturation and sharpness; alpha is left as it was."""
    rgb, alpha = split_rgb_alpha(inp.image)
    balanced, gains = _white_balance(rgb)
    inp.progress(0.3)

    lab = cv2.cvtColor(balanced, cv2.COLOR_RGB2LAB)
    lightness = _stretch_levels(lab[..., 0])
    lightness = _add_local_contrast(lightness)
    lightness = unsharp_mask(lightness.astype(np.float32), sigma=1.0, amount=SHARPEN_AMOUNT)
    lab[..., 0] = to_uint8(lightness)
    inp.progress(0.7)
    # OpenCV stores a/b around 128 for 8-bit LAB; scaling around it raises saturation without shifting hue.
    chroma = (lab[..., 1:].astype(np.float32) - 128.0) * CHROMA_BOOST + 128.0
    lab[..., 1:] = to_uint8(chroma)
    enhanced = cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)
    inp.progress(1.0)
    return EngineOutput(
        image=join_rgb_alpha(enhanced, alpha),
        engine="classical",
        model=None,
        info={"white_balance_gains": [round(float(g), 3) for g in gains]},
    )


def _white_balance(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gray-world white balance on well-exposed pixels, gains clipped; returns (image, per-channel gains)."""
    pixels = rgb.reshape(-1, 3).astype(np.float32)
    no_change = np.ones(3, np.float32)
    if pixels.std(axis=0).max() < FLAT_IMAGE_STD:
        # A flat image carries no evidence about the light; gray-world would just turn its colour grey.
        return rgb.copy(), no_change
    # Clipped highlights and crushed shadows have lost their colour and would bias the estimate.
    usable = (pixels.max(axis=1) < 250) & (pixels.min(axis=1) > 5)
    sample = pixels[usable] if usable.sum() >= max(16, 0.05 * len(pixels)) else pixels
    means = np.maximum(sample.mean(axis=0), 1.0)
    gains = np.clip(means.mean() / means, *WHITE_BALANCE_GAIN_RANGE).astype(np.float32)
    levels = np.arange(256, dtype=np.float32)
    balanced = np.empty_like(rgb)
    for channel in range(3):
        lookup = to_uint8(levels * gains[channel])
        balanced[..., channel] = lookup[rgb[..., channel]]
    return balanced, gains


def _stretch_levels(lightness: np.ndarray) -> np.ndarray:
    """Spread the lightness between its 0.5th and 99.5th percentiles over more of the range (bounded gain)."""
    low, high = np.percentile(lightness, LEVELS_PERCENTILES)
    spread = float(high - low)
    if spread < 8.0:
        return lightness.copy()
    gain = min(255.0 / spread, LEVELS_MAX_GAIN)
    half_range = spread * gain / 2.0
    # Keep the mid-tone where it was unless the stretched range would fall off either end.
    middle = float(low + high) / 2.0
    new_middle = float(np.clip(middle, half_range, 255.0 - half_range))
    return to_uint8((lightness.astype(np.float32) - middle) * gain + new_middle)


def _add_local_contrast(lightness: np.ndarray) -> np.ndarray:
    """Blend in CLAHE, which lifts detail in shadows and highlights that a global stretch cannot reach."""
    height, width = lightness.shape
    if min(height, width) < CLAHE_MIN_SIDE or lightness.std() < FLAT_IMAGE_STD:
        # Too few pixels or no tonal range: histogram equalisation would invent contrast (or shift a flat tone).
        return lightness.copy()
    # Tiles of at least ~32 px: smaller tiles turn CLAHE into a noise amplifier.
    tiles = int(np.clip(min(height, width) // 32, 1, 8))
    clahe = cv2.createCLAHE(clipLimit=CLAHE_CLIP_LIMIT, tileGridSize=(tiles, tiles))
    equalised = clahe.apply(lightness)
    mixed = lightness.astype(np.float32) * (1.0 - CLAHE_WEIGHT) + equalised.astype(np.float32) * CLAHE_WEIGHT
    return to_uint8(mixed)
