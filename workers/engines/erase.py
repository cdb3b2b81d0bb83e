"""Classical object removal: grow the user's mask a little, then fill it with OpenCV's Telea inpainting.

Users paint masks loosely and objects have soft, anti-aliased or shadowed edges; without growing the mask the
fill starts from those edge pixels and smears a ghost outline of the object into the hole.
"""
from __future__ import annotations

import cv2
import numpy as np

from workers.engines.base import EngineError, EngineInput, EngineOutput
from workers.engines.pixels import join_rgb_alpha, split_rgb_alpha

# Growth and inpainting radius scale with the longer image side (pixels per pixel of radius), within bounds.
MASK_GROWTH_PER_PIXEL = 1 / 256
MASK_GROWTH_RANGE = (2, 12)
INPAINT_RADIUS_PER_PIXEL = 1 / 100
# Telea's cost grows with radius squared for every masked pixel, so the radius is capped.
INPAINT_RADIUS_RANGE = (3, 12)


def classical_erase(inp: EngineInput) -> EngineOutput:
    """Remove what the mask covers (255 = erase) and fill it from its surroundings; alpha is kept as it was."""
    rgb, alpha = split_rgb_alpha(inp.image)
    mask = _read_mask(inp)
    mask_pixels = int(np.count_nonzero(mask))
    if mask_pixels == 0:
        inp.progress(1.0)
        return EngineOutput(image=inp.image.copy(), engine="classical", model=None, info={"mask_pixels": 0})
    if mask_pixels == mask.size:
        raise EngineError("the mask covers the whole image, so nothing is left to fill the erased area from")

    longer_side = max(rgb.shape[:2])
    hole = _grow_mask(mask, _scaled(longer_side, MASK_GROWTH_PER_PIXEL, MASK_GROWTH_RANGE))
    inp.progress(0.3)
    radius = _scaled(longer_side, INPAINT_RADIUS_PER_PIXEL, INPAINT_RADIUS_RANGE)
    # cv2.inpaint is channel-order agnostic, so RGB can go in as is.
    filled = cv2.inpaint(rgb, hole, radius, cv2.INPAINT_TELEA)
    inp.progress(1.0)
    return EngineOutput(
        image=join_rgb_alpha(filled, alpha), engine="classical", model=None, info={"mask_pixels": mask_pixels}
    )


def _read_mask(inp: EngineInput) -> np.ndarray:
    """The mask as a uint8 array of 0/255, refusing a missing mask or one of another size."""
    if inp.mask is None:
        raise EngineError("erase needs a mask: paint the area to remove")
    if inp.mask.size != inp.image.size:
        # Resizing could erase the wrong place (e.g. a mask drawn before EXIF rotation); refuse instead.
        raise EngineError(
            f"the mask is {inp.mask.size[0]}x{inp.mask.size[1]} but the image is "
            f"{inp.image.size[0]}x{inp.image.size[1]}; they must match"
        )
    mask = np.array(inp.mask.convert("L"), dtype=np.uint8)
    return np.where(mask >= 128, 255, 0).astype(np.uint8)


def _grow_mask(mask: np.ndarray, growth: int) -> np.ndarray:
    """Dilate the mask by `growth` pixels with a round kernel, unless that would leave nothing to fill from."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * growth + 1, 2 * growth + 1))
    grown = cv2.dilate(mask, kernel)
    if np.count_nonzero(grown) == grown.size:
        return mask
    return grown


def _scaled(longer_side: int, per_pixel: float, bounds: tuple[int, int]) -> int:
    """A pixel radius proportional to the image size, kept within `bounds`."""
    return int(np.clip(round(longer_side * per_pixel), *bounds))
