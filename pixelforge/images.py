"""Uploads in, results out: sniff and check images from their bytes, decode them, read masks, encode results.

Nothing here trusts a file name or a Content-Type: the format comes from the leading bytes, and the pixel
count from the header before any decoding, so a decompression bomb costs a few bytes of reading.
"""
from __future__ import annotations

import io
import warnings
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from pixelforge.operations import ValidationFailed

ALLOWED_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
EXIF_ORIENTATION = 0x0112
MASK_THRESHOLD = 128
# Our own pixel check runs first; lift Pillow's global guard so it never fires with a less clear message.
Image.MAX_IMAGE_PIXELS = None

_KNOWN_SIGNATURES = (  # recognised only to name them in the refusal
    (b"GIF8", "GIF"), (b"%PDF", "PDF"), (b"SIMPLE  =", "FITS"), (b"BM", "BMP"), (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"), (b"\x00\x00\x01\x00", "ICO"), (b"8BPS", "PSD"),
)


@dataclass(frozen=True)
class ImageHeader:
    format: str
    width: int
    height: int
    transposed: bool = False  # EXIF orientation turns it a quarter: width and height swap once decoded

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def oriented_size(self) -> tuple[int, int]:
        """The size after EXIF orientation is applied, as decode_image returns it."""
        return (self.height, self.width) if self.transposed else (self.width, self.height)


def sniff_format(data: bytes) -> str | None:
    """The format named by the file's leading bytes, or None if it is not one we accept."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def _describe_unsupported(data: bytes) -> str:
    head = data[:512].lstrip()
    for signature, name in _KNOWN_SIGNATURES:
        if data.startswith(signature):
            return name
    if head.startswith(b"<?xml") or b"<svg" in head.lower():
        return "SVG"
    return "unknown"


def read_header(data: bytes, param: str, max_pixels: int) -> ImageHeader:
    """Check format and pixel count from the header alone; raise ValidationFailed otherwise."""
    if not data:
        raise ValidationFailed(f"{param} is an empty file", param, "empty_file")
    fmt = sniff_format(data)
    if fmt is None:
        kind = _describe_unsupported(data)
        detail = f" ({kind})" if kind != "unknown" else ""
        raise ValidationFailed(f"{param} is not a supported image{detail}; send PNG, JPEG or WebP", param,
                               "unsupported_format")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image = Image.open(io.BytesIO(data), formats=[fmt])
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ValidationFailed(f"{param} could not be read as {fmt}: {exc}", param, "corrupt_image") from None
    width, height = image.size
    if width < 1 or height < 1:
        raise ValidationFailed(f"{param} has no pixels", param, "corrupt_image")
    if width * height > max_pixels:
        raise ValidationFailed(f"{param} is {width}×{height} = {width * height:,} pixels; the limit is "
                               f"{max_pixels:,}", param, "image_too_large")
    if getattr(image, "n_frames", 1) > 1:
        raise ValidationFailed(f"{param} is animated; send a single still image", param, "animated_image")
    try:
        transposed = image.getexif().get(EXIF_ORIENTATION, 1) in (5, 6, 7, 8)
    except Exception:  # a malformed EXIF block: decoding ignores it too
        transposed = False
    return ImageHeader(fmt, width, height, transposed)


def check_decodable(data: bytes, header: ImageHeader, param: str = "image") -> None:
    """Prove the whole file decodes (not truncated or corrupt) at a fraction of a full decode's cost.

    PNG: every chunk's CRC and the final IEND are checked without inflating pixels. JPEG: the entropy-coded
    data is decoded at 1/8 scale (DCT scaling), which still reads every byte. WebP: a full decode.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image = Image.open(io.BytesIO(data), formats=[header.format])
            if header.format == "PNG":
                image.verify()
                return
            if header.format == "JPEG":
                image.draft("RGB", (max(1, header.width // 8), max(1, header.height // 8)))
            image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ValidationFailed(f"{param} is truncated or corrupt: {exc}", param, "corrupt_image") from None


def decode_image(data: bytes, param: str = "image") -> Image.Image:
    """Decode fully, apply EXIF orientation, and normalise to RGB or RGBA (alpha kept)."""
    fmt = sniff_format(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image = Image.open(io.BytesIO(data), formats=[fmt] if fmt else None)
            image.load()
            image = ImageOps.exif_transpose(image)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ValidationFailed(f"{param} is truncated or corrupt: {exc}", param, "corrupt_image") from None
    return _normalise_mode(image)


def _normalise_mode(image: Image.Image) -> Image.Image:
    if image.mode in ("RGB", "RGBA"):
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.uint32)
        image = Image.fromarray((array >> 8).clip(0, 255).astype(np.uint8), "L")
    has_alpha = image.mode in ("LA", "PA", "La", "RGBa") or (image.mode == "P" and "transparency" in image.info)
    return image.convert("RGBA" if has_alpha else "RGB")


def decode_mask(data: bytes, size: tuple[int, int], param: str = "mask") -> Image.Image:
    """A binary mask (mode "L", 0 or 255; 255 = change) from alpha when it varies, else from luminance."""
    image = decode_image(data, param)
    if image.size != size:
        raise ValidationFailed(f"{param} is {image.size[0]}×{image.size[1]} but the image is {size[0]}×{size[1]}; "
                               "they must match", param, "mask_size_mismatch")
    channel = None
    if image.mode == "RGBA":
        alpha = image.getchannel("A")
        low, high = alpha.getextrema()
        if low != high:  # an alpha that is opaque everywhere carries no mask; read the pixels instead
            channel = alpha
    if channel is None:
        channel = image.convert("L")
    binary = (np.asarray(channel) >= MASK_THRESHOLD).astype(np.uint8) * 255
    if not binary.any():
        raise ValidationFailed(f"{param} is empty: nothing is white (≥ {MASK_THRESHOLD}), so nothing would change",
                               param, "empty_mask")
    return Image.fromarray(binary, "L")


def encode_result(image: Image.Image, fmt: str, png_compress_level: int = 1) -> tuple[bytes, str]:
    """Encode a result without metadata; returns (bytes, content type). PNG stays lossless at any level."""
    buffer = io.BytesIO()
    if fmt == "webp":
        image.save(buffer, format="WEBP", quality=90, alpha_quality=100, method=4)
        return buffer.getvalue(), "image/webp"
    if fmt == "jpeg":
        image.convert("RGB").save(buffer, format="JPEG", quality=92)
        return buffer.getvalue(), "image/jpeg"
    # Z_RLE at a low level: measured faster *and* smaller than zlib's default strategy (bench/RESULTS.md).
    image.save(buffer, format="PNG", compress_level=png_compress_level, compress_type=zlib.Z_RLE)
    return buffer.getvalue(), "image/png"


EXTENSIONS = {"image/png": "png", "image/webp": "webp", "image/jpeg": "jpg"}


def decode_deep(data: bytes) -> np.ndarray | None:
    """A 16-bit PNG's pixels at full depth (H×W×3 or ×4 uint16, RGB(A)); None for anything else.

    Pillow reads 16-bit colour PNGs as 8-bit, so these go through OpenCV, which keeps every bit.
    """
    if sniff_format(data) != "PNG" or len(data) < 26 or data[24] != 16:
        return None
    import cv2

    array = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if array is None or array.dtype != np.uint16:
        return None
    if array.ndim == 2:
        return np.repeat(array[:, :, None], 3, axis=2)
    conversion = cv2.COLOR_BGRA2RGBA if array.shape[2] == 4 else cv2.COLOR_BGR2RGB
    return cv2.cvtColor(array, conversion)


def encode_deep_png(array: np.ndarray, png_compress_level: int = 1) -> bytes:
    """A 16-bit PNG of an H×W×3 or ×4 uint16 RGB(A) array, without metadata."""
    import cv2

    conversion = cv2.COLOR_RGBA2BGRA if array.shape[2] == 4 else cv2.COLOR_RGB2BGR
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(array, conversion),
                               [cv2.IMWRITE_PNG_COMPRESSION, png_compress_level])
    if not ok:
        raise ValueError("could not encode the 16-bit result as PNG")
    return encoded.tobytes()
