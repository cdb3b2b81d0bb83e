"""Classical one-click enhancement: correct only what is measurably wrong (noise, a colour cast, under-exposure,
haze), each in proportion to how sure the measurement is, then a light, halo-free sharpening.

A photo that is already fine must come back nearly as it was (mean CIEDE2000 <= 2 on scikit-image's samples, see
bench/fidelity.py): warm light at golden hour, a dark blue-hour sky or a soft portrait are what the photographer
meant. So every correction starts only beyond what real, well-exposed photos show, fades in over a margin, and is
bounded: white balance moves the light's colour only back to the edge of the range daylight and indoor photos
span (never to grey), exposure restores highlights that are far too dim, and levels lift a washed-out black point.
"""
from __future__ import annotations

import cv2
import numpy as np

from workers.engines.base import EngineInput, EngineOutput
from workers.engines.measure import (light_colour, linear_white, luma, noise_sigma, ramp, to_linear, to_srgb,
                                     tonal_range)
from workers.engines.pixels import join_rgb_alpha, split_rgb_alpha, to_uint8, unsharp_mask

# Below this spread (grey levels) an image is treated as flat: there is nothing to balance, expose or stretch.
FLAT_IMAGE_STD = 2.0
# Noise (grey levels, see measure.noise_sigma) that clean photos stay under, and where denoising is in full.
NOISE_START, NOISE_FULL = 3.0, 5.0
DENOISE_PER_SIGMA = 0.9
# The light's colour as warmth = log(r/b)/2 and tint = log(r*b/g^2)/2 (linear RGB). Photos under daylight,
# shade, golden-hour or indoor light fall inside these ranges; only a cast beyond them is corrected, and only
# back to their edge. The correction fades in over CAST_MARGIN and its gains stay within WHITE_BALANCE_GAIN_RANGE.
NEUTRAL_WARMTH = (-0.10, 0.30)
NEUTRAL_TINT = (-0.10, 0.20)
CAST_MARGIN = 0.10
WHITE_BALANCE_GAIN_RANGE = (0.67, 1.5)
# The brightest highlights in linear light (measure.linear_white): well-exposed photos reach 0.6 and more.
DIM_WHITE_START, DIM_WHITE_FULL = 0.45, 0.36
EXPOSURE_TARGET_WHITE = 0.85
EXPOSURE_MAX_GAIN = 4.0
# The black point (0.5th percentile of luma): haze or a flat scan lifts it; photos keep it under ~25.
HAZE_BLACK_START, HAZE_BLACK_FULL = 28.0, 40.0
LEVELS_TARGET_BLACK = 8.0
LEVELS_MAX_GAIN = 2.0
SHARPEN_AMOUNT = 0.25


def classical_enhance(inp: EngineInput) -> EngineOutput:
    """Denoise, white-balance, expose and level what needs it, then sharpen lightly; alpha is left as it was."""
    rgb, alpha = split_rgb_alpha(inp.image)
    no_change = [1.0, 1.0, 1.0]
    if rgb.reshape(-1, 3).std(axis=0).max() < FLAT_IMAGE_STD:
        # A flat image carries no evidence about light, exposure or contrast.
        inp.progress(1.0)
        return _output(rgb.copy(), alpha, no_change, [])
    corrections: list[str] = []
    rgb, denoised = _denoise(rgb)
    if denoised:
        corrections.append("denoise")
    inp.progress(0.3)

    rgb, gains = _balance_white(rgb)
    if max(abs(g - 1.0) for g in gains) > 1e-3:
        corrections.append("white_balance")
    # Haze before exposure: it lifts the black and dims the white, which would otherwise read as under-exposure.
    rgb, levelled = _lift_haze(rgb)
    if levelled:
        corrections.append("levels")
    rgb, exposed = _expose(rgb)
    if exposed:
        corrections.append("exposure")
    inp.progress(0.6)
    if not denoised:  # sharpening would bring back the grain just removed
        rgb = _sharpen_luma(rgb)
        corrections.append("sharpen")
    inp.progress(1.0)
    return _output(rgb, alpha, [round(float(g), 3) for g in gains], corrections)


def _output(rgb: np.ndarray, alpha: np.ndarray | None, gains: list[float], corrections: list[str]) -> EngineOutput:
    return EngineOutput(image=join_rgb_alpha(rgb, alpha), engine="classical", model=None,
                        info={"white_balance_gains": gains, "corrections": corrections})


def _denoise(rgb: np.ndarray) -> tuple[np.ndarray, bool]:
    """Non-local means, as strong as the measured noise, when there is clearly more than a clean photo has."""
    sigma = noise_sigma(rgb)
    weight = ramp(sigma, NOISE_START, NOISE_FULL)
    if weight <= 0.0 or min(rgb.shape[:2]) < 8:
        return rgb, False
    strength = DENOISE_PER_SIGMA * sigma
    denoised = cv2.fastNlMeansDenoisingColored(np.ascontiguousarray(rgb), None, strength, strength, 5, 15)
    if weight < 1.0:
        denoised = to_uint8(rgb * (1.0 - weight) + denoised.astype(np.float32) * weight)
    return denoised, True


def _balance_white(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Von Kries gains in linear light (where light really multiplies); (image, gains)."""
    linear = to_linear(rgb)
    gains = _white_balance_gains(rgb, linear)
    if np.allclose(gains, 1.0):
        return rgb, np.ones(3, np.float32)
    return to_srgb(linear * gains), gains


def _expose(rgb: np.ndarray) -> tuple[np.ndarray, bool]:
    """Brighten, in linear light, a photo whose brightest highlights are far too dim."""
    linear = to_linear(rgb)
    white = linear_white(linear)
    weight = ramp(white, DIM_WHITE_START, DIM_WHITE_FULL)
    if weight <= 0.0 or white <= 0.0:
        return rgb, False
    wanted = float(np.clip(EXPOSURE_TARGET_WHITE / white, 1.0, EXPOSURE_MAX_GAIN))
    return to_srgb(linear * (1.0 + weight * (wanted - 1.0))), wanted > 1.0


def _white_balance_gains(rgb: np.ndarray, linear: np.ndarray) -> np.ndarray:
    """Per-channel gains that move the light's colour back to the edge of the neutral range (ones inside it)."""
    light = light_colour(rgb, linear)
    if light is None:
        return np.ones(3, np.float32)
    red, blue = np.log(light[0]), np.log(light[2])
    warmth, tint = (red - blue) / 2.0, (red + blue) / 2.0
    warmth_excess = _excess(warmth, NEUTRAL_WARMTH)
    tint_excess = _excess(tint, NEUTRAL_TINT)
    # log-gains that remove the excess: red carries warmth + tint, blue tint - warmth.
    log_gains = np.array([-(warmth_excess + tint_excess), 0.0, warmth_excess - tint_excess])
    gains = np.exp(log_gains)
    # Keep the light's own luminance: a colour correction should not brighten or darken the photo.
    weights = np.array([0.2126, 0.7152, 0.0722]) * light
    gains = gains * (weights.sum() / (weights * gains).sum())
    return np.clip(gains, *WHITE_BALANCE_GAIN_RANGE).astype(np.float32)


def _excess(value: float, neutral: tuple[float, float]) -> float:
    """How far `value` lies outside `neutral`, faded in over CAST_MARGIN (0 inside)."""
    excess = value - float(np.clip(value, *neutral))
    return excess * ramp(abs(excess), 0.0, CAST_MARGIN)


def _lift_haze(rgb: np.ndarray) -> tuple[np.ndarray, bool]:
    """Undo a lifted black point: haze (or a flat scan) mixes every pixel with a veil of light, which pulls the
    tones towards the average; contrast is restored around the average until the black is back near black."""
    black, _ = tonal_range(rgb)
    weight = ramp(black, HAZE_BLACK_START, HAZE_BLACK_FULL)
    pivot = float(luma(rgb).mean())
    if weight <= 0.0 or pivot - black < 8.0:
        return rgb, False
    gain = min((pivot - LEVELS_TARGET_BLACK) / (pivot - black), LEVELS_MAX_GAIN)
    levels = np.arange(256, dtype=np.float32)
    stretched = (levels - pivot) * gain + pivot
    lookup = to_uint8(levels + weight * (stretched - levels))
    return lookup[rgb], True


def _sharpen_luma(rgb: np.ndarray) -> np.ndarray:
    """A light unsharp mask on luma only (no colour fringes), cored so flat areas and grain stay as they were."""
    ycrcb = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb)
    ycrcb[..., 0] = to_uint8(unsharp_mask(ycrcb[..., 0].astype(np.float32), sigma=1.0, amount=SHARPEN_AMOUNT))
    return cv2.cvtColor(ycrcb, cv2.COLOR_YCrCb2RGB)
