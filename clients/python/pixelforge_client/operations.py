"""One typed method per operation, shared by Client and AsyncClient (each returns what that client's submit does).

None leaves a parameter to the server's default (shown in each docstring).
"""
from __future__ import annotations

from typing import Literal

from pixelforge_client.core import ImageInput


class OperationMethods:
    def submit(self, operation, image, mask=None, *, idempotency_key=None, **params):  # pragma: no cover
        raise NotImplementedError

    def upscale(self, image: ImageInput, *, scale: Literal[2, 4] | None = None, idempotency_key: str | None = None):
        """Upscale 2x (default, 1 credit) or 4x (2 credits)."""
        return self.submit("upscale", image, scale=scale, idempotency_key=idempotency_key)

    def remove_background(self, image: ImageInput, *, format: Literal["png", "jpeg", "webp"] | None = None,
                          model: Literal["isnet-general-use", "u2net"] | None = None,
                          alpha_matting: bool | None = None, bg_color: str | None = None,
                          channels: Literal["rgba", "alpha"] | None = None, crop: bool | None = None,
                          crop_margin: int | None = None, idempotency_key: str | None = None):
        """A transparent cut-out (png by default; the best installed model unless one is named); bg_color lays it
        on a colour, channels="alpha" gives the mask alone, crop cuts to the subject (with crop_margin pixels)."""
        return self.submit("remove-background", image, output_format=format, model=model,
                           alpha_matting=alpha_matting, bg_color=bg_color, channels=channels, crop=crop,
                           crop_margin=crop_margin, idempotency_key=idempotency_key)

    def restore_face(self, image: ImageInput, *, fidelity: float | None = None, idempotency_key: str | None = None):
        """Restore faces; fidelity 0..1 (0.7; 1 keeps the original face)."""
        return self.submit("restore-face", image, fidelity=fidelity, idempotency_key=idempotency_key)

    def enhance(self, image: ImageInput, *, idempotency_key: str | None = None):
        """Colour, exposure, contrast and sharpness."""
        return self.submit("enhance", image, idempotency_key=idempotency_key)

    def erase_object(self, image: ImageInput, mask: ImageInput, *, idempotency_key: str | None = None):
        """Erase what the mask covers (white = erase; the image's size)."""
        return self.submit("erase-object", image, mask, idempotency_key=idempotency_key)

    def inpaint(self, image: ImageInput, mask: ImageInput, *, prompt: str | None = None, steps: int | None = None,
                cfg_scale: float | None = None, strength: float | None = None, seed: int | None = None,
                idempotency_key: str | None = None):
        """Repaint the masked area from a prompt ("high quality photo"; steps 30, cfg_scale 7, strength 0.85)."""
        return self.submit("inpaint", image, mask, prompt=prompt, steps=steps, cfg_scale=cfg_scale,
                           strength=strength, seed=seed, idempotency_key=idempotency_key)
