"""A job's result in another format for download, decoded within the web process's pixel budget like every web
decode (previews and thumbnails: pixelforge/thumbnails.py)."""
from __future__ import annotations

from pixelforge import images
from pixelforge.decode_budget import bounded_decode

FORMATS = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}


def converted(data: bytes, fmt: str) -> bytes:
    """The picture encoded as fmt (a key of FORMATS), without metadata; JPEG drops alpha."""
    header = images.read_header(data, "image", 1 << 40)
    with bounded_decode(header.pixels):
        picture = images.decode_image(data)
    encoded, _ = images.encode_result(picture, fmt)
    return encoded
