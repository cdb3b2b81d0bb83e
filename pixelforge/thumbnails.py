"""Small job pictures for the dashboard, made once and stored beside the job's files: thumbnails for lists, and
screen-sized previews for the playground's result panel (so a 40-megapixel result shows as soon as its job ends).

A history page used to decode every listed job's full-size image on every view (one jobs page: 4.2 GB). Now the
worker stores the result's thumbnail when it finishes a job, and the web makes an input's (or an older job's)
once, on first view, within its decode budget, and stores it too; upkeep deletes them with the job's files.
"""
from __future__ import annotations

import io
import logging
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

from pixelforge import images
from pixelforge.decode_budget import bounded_decode
from pixelforge.operations import ValidationFailed
from pixelforge.storage import ObjectMissing, StorageError, get_storage, job_object_key

log = logging.getLogger(__name__)

SIZE = 160  # the longer edge, in pixels
PREVIEW_SIZE = 1600  # a preview's longer edge: sharp on a laptop screen, quick to send
KINDS = ("input", "result")
_TRANSPOSES = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
               5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
               8: Image.Transpose.ROTATE_90}


def thumbnail_key(job_id: str, kind: str) -> str:
    return job_object_key(job_id, f"thumbnail-{kind}.png")


def preview_key(job_id: str, kind: str) -> str:
    return job_object_key(job_id, f"preview-{kind}")  # a JPEG, or a PNG where there is alpha


def thumbnail_keys(job_id: str) -> tuple[str, ...]:
    """Every thumbnail and preview a job may have, for deleting them with its files."""
    return tuple(key(job_id, kind) for kind in KINDS for key in (thumbnail_key, preview_key))


def fitted_size(size: tuple[int, int], edge: int = SIZE) -> tuple[int, int]:
    """size scaled down (never up) so that its longer edge is at most edge."""
    width, height = size
    scale = min(1.0, edge / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def encode_preview(image: Image.Image) -> bytes:
    """image shrunk to fit PREVIEW_SIZE: a JPEG when it is opaque, a PNG when it has alpha."""
    small = images.normalise_mode(image)
    if max(small.size) > PREVIEW_SIZE:
        small = small.resize(fitted_size(small.size, PREVIEW_SIZE), Image.Resampling.BILINEAR, reducing_gap=2.0)
    buffer = io.BytesIO()
    if small.mode == "RGBA":
        small.save(buffer, format="PNG", compress_level=1)
    else:
        small.save(buffer, format="JPEG", quality=88)
    return buffer.getvalue()


def result_preview(image: Image.Image, result: bytes, content_type: str) -> bytes:
    """The preview of a result: the result's own bytes where they are what encode_preview would make again (a PNG
    with alpha that fits PREVIEW_SIZE; encoding it twice cost ~20 ms of a 0.65 s background removal), else
    encode_preview's."""
    if content_type == "image/png" and image.mode == "RGBA" and max(image.size) <= PREVIEW_SIZE:
        return result
    return encode_preview(image)


def encode_deep_preview(array: np.ndarray) -> bytes:
    return encode_preview(Image.fromarray((array >> 8).astype(np.uint8)))


def encode(image: Image.Image) -> bytes:
    """A PNG of image shrunk to fit SIZE×SIZE (image itself is left as it is)."""
    small = image.resize(fitted_size(image.size), Image.Resampling.LANCZOS, reducing_gap=3.0)
    small = images.normalise_mode(small)
    buffer = io.BytesIO()
    small.save(buffer, format="PNG")
    return buffer.getvalue()


def encode_deep(array: np.ndarray) -> bytes:
    """The thumbnail of a 16-bit result (H×W×3 or ×4 uint16)."""
    return encode(Image.fromarray((array >> 8).astype(np.uint8)))


def from_image_bytes(data: bytes) -> bytes:
    """The thumbnail of an encoded image, decoded at the smallest scale its format allows, within the budget."""
    fmt = images.sniff_format(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image = Image.open(io.BytesIO(data), formats=[fmt] if fmt else None)
            orientation = images.exif_orientation(image, data)
            with bounded_decode(image.size[0] * image.size[1]):
                small = _decode_small(image, data)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ValidationFailed(f"the stored image does not decode: {exc}", "image", "corrupt_image") from None
    if orientation in _TRANSPOSES:
        small = small.transpose(_TRANSPOSES[orientation])
    return encode(small)


def _decode_small(image: Image.Image, data: bytes) -> Image.Image:
    """A picture at least SIZE on its longer edge, without a second full-size copy where the format allows."""
    if image.format == "WEBP":
        return _decode_small_webp(data, max(image.size), keep_alpha=image.mode != "RGB")
    image.draft("RGB", (SIZE, SIZE))  # JPEG: DCT scaling to the nearest size at least this big
    image.thumbnail((SIZE, SIZE), Image.Resampling.LANCZOS, reducing_gap=3.0)
    return image


def _decode_small_webp(data: bytes, longer_edge: int, keep_alpha: bool) -> Image.Image:
    """Through OpenCV: an opaque WebP scaled while it decodes (libwebp), one with alpha at full size (4 bytes a
    pixel; Pillow's WebP decoder holds about 15)."""
    import cv2

    flags = cv2.IMREAD_UNCHANGED
    if not keep_alpha:
        factor = next((f for f in (8, 4, 2) if longer_edge // f >= SIZE), 1)
        flags = {8: cv2.IMREAD_REDUCED_COLOR_8, 4: cv2.IMREAD_REDUCED_COLOR_4, 2: cv2.IMREAD_REDUCED_COLOR_2,
                 1: cv2.IMREAD_COLOR}[factor] | cv2.IMREAD_IGNORE_ORIENTATION  # applied by the caller
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if pixels is None:
        raise ValueError("the WebP data does not decode")
    pixels = cv2.resize(pixels, fitted_size((pixels.shape[1], pixels.shape[0])), interpolation=cv2.INTER_AREA)
    if pixels.ndim == 2:
        return Image.fromarray(pixels, "L")
    conversion = cv2.COLOR_BGRA2RGBA if pixels.shape[2] == 4 else cv2.COLOR_BGR2RGB
    return Image.fromarray(cv2.cvtColor(pixels, conversion))


def preview_from_image_bytes(data: bytes) -> bytes:
    """The preview of an encoded image (EXIF orientation applied), decoded within the budget."""
    header = images.read_header(data, "image", 1 << 40)
    with bounded_decode(header.pixels):
        return encode_preview(images.decode_image(data))


def stored_or_made(job_id: str, kind: str, source_key: str, preview: bool = False) -> bytes:
    """The job's stored thumbnail (or preview) of kind; on first use it is made from source_key and stored.

    ObjectMissing when the source is gone; ValidationFailed when it does not decode.
    """
    storage = get_storage()
    key = preview_key(job_id, kind) if preview else thumbnail_key(job_id, kind)
    try:
        return storage.get(key)
    except ObjectMissing:
        pass
    source = storage.get(source_key)
    picture = preview_from_image_bytes(source) if preview else from_image_bytes(source)
    try:
        storage.put(key, picture)
    except StorageError as exc:  # shown anyway; made again next time
        log.warning("could not store the thumbnail %s: %s", key, exc)
    return picture
