"""Job pictures in other shapes for the browser: a preview small enough to show at once, and the result in
another format for download. Decoded within the web process's pixel budget, like every web decode."""
from __future__ import annotations

import io

from PIL import Image

from pixelforge import images
from pixelforge.decode_budget import bounded_decode

PREVIEW_EDGE = 1600  # the longer edge: sharp on a laptop screen, quick to make and to send
FORMATS = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}


def _decoded(data: bytes) -> Image.Image:
    header = images.read_header(data, "image", 1 << 40)
    with bounded_decode(header.pixels):
        return images.decode_image(data)


def preview(data: bytes) -> tuple[bytes, str]:
    """(bytes, content type): the picture scaled to fit PREVIEW_EDGE; JPEG when opaque, PNG with alpha."""
    picture = _decoded(data)
    factor = max(picture.size) / PREVIEW_EDGE
    if factor > 1:
        size = (max(1, round(picture.width / factor)), max(1, round(picture.height / factor)))
        picture = picture.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    buffer = io.BytesIO()
    if picture.mode == "RGBA":
        picture.save(buffer, format="PNG", compress_level=1)
        return buffer.getvalue(), "image/png"
    picture.save(buffer, format="JPEG", quality=88)
    return buffer.getvalue(), "image/jpeg"


def converted(data: bytes, fmt: str) -> bytes:
    """The picture encoded as fmt (a key of FORMATS), without metadata; JPEG drops alpha."""
    encoded, _ = images.encode_result(_decoded(data), fmt)
    return encoded
