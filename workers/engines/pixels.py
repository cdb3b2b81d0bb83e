"""Pixel plumbing shared by the classical engines: PIL <-> uint8 arrays, alpha handling, unsharp masking.

Every classical engine works on the colour channels of an RGB/RGBA image and must hand the alpha channel back
untouched (or replaced, for background removal); doing that split in one place keeps the engines about pixels.
"""
from __future__ import annotations

import cv2
import numpy as np
from PIL import Image


def split_rgb_alpha(image: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """Return (HxWx3 uint8 RGB, HxW uint8 alpha or None) for an "RGB" or "RGBA" image."""
    if image.mode == "RGB":
        return np.array(image, dtype=np.uint8), None
    if image.mode == "RGBA":
        rgba = np.array(image, dtype=np.uint8)
        return np.ascontiguousarray(rgba[..., :3]), np.ascontiguousarray(rgba[..., 3])
    # The task converts every upload to RGB/RGBA; anything else is a caller bug, not a user error.
    raise ValueError(f"classical engines take RGB or RGBA images, got mode {image.mode!r}")


def join_rgb_alpha(rgb: np.ndarray, alpha: np.ndarray | None) -> Image.Image:
    """Build an "RGB" image, or an "RGBA" one when an alpha channel is given."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    if alpha is None:
        return Image.fromarray(rgb, mode="RGB")
    rgba = np.dstack([rgb, np.asarray(alpha, dtype=np.uint8)])
    return Image.fromarray(rgba, mode="RGBA")


def to_uint8(values: np.ndarray) -> np.ndarray:
    """Round and clip float pixel values into uint8 (NaN-free by construction of the callers)."""
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def unsharp_mask(channel: np.ndarray, sigma: float, amount: float, noise_floor: float = 2.0) -> np.ndarray:
    """Sharpen a float32 channel by adding back `amount` of its detail above a Gaussian of `sigma`.

    Detail weaker than `noise_floor` grey levels is faded out smoothly ("coring") so grain and JPEG noise in
    flat areas are not amplified along with real edges.
    """
    channel = channel.astype(np.float32, copy=False)
    detail = channel - cv2.GaussianBlur(channel, (0, 0), sigma)
    if noise_floor > 0:
        squared = detail * detail
        detail = detail * (squared / (squared + noise_floor * noise_floor))
    return channel + amount * detail


def blend(original: np.ndarray, changed: np.ndarray, weight: np.ndarray | float) -> np.ndarray:
    """Mix two uint8 images as original*(1-weight) + changed*weight; weight is a scalar or an HxW map."""
    weight = np.asarray(weight, dtype=np.float32)
    if weight.ndim == 2 and original.ndim == 3:
        weight = weight[..., None]
    mixed = original.astype(np.float32) * (1.0 - weight) + changed.astype(np.float32) * weight
    return to_uint8(mixed)
