"""Uploads in, results out: sniff and check images from their bytes, decode them, read masks, encode results.

Nothing here trusts a file name or a Content-Type: the format comes from the leading bytes, and the pixel
count from the header before any decoding, so a decompression bomb costs a few bytes of reading. The checks
that decode (check_decodable, check_mask) run in the web process, after the credit check, inside its decode
budget (pixelforge.decode_budget).
"""
from __future__ import annotations

import io
import warnings
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from pixelforge import pngcheck
from pixelforge.decode_budget import bounded_decode
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
    return ImageHeader(fmt, width, height, exif_orientation(image, data) in (5, 6, 7, 8))


def exif_orientation(image: Image.Image, data: bytes) -> int:
    """The EXIF orientation, read without decoding pixels (PNG's getexif() would decode the whole image)."""
    try:
        if image.format != "PNG":
            return image.getexif().get(EXIF_ORIENTATION, 1)
        raw = image.info.get("exif") or pngcheck.find_exif(data)
        exif = Image.Exif()
        if raw:
            exif.load(raw)
        return exif.get(EXIF_ORIENTATION, 1)
    except Exception:  # a malformed EXIF block: decoding ignores it too
        return 1


def check_decodable(data: bytes, header: ImageHeader, param: str = "image") -> None:
    """Prove the whole file decodes (not truncated or corrupt) while holding as few pixels as the format allows.

    PNG: every chunk's CRC, and the pixel data inflated piece by piece (pngcheck): no pixels held at all. JPEG:
    decoded at 1/8 scale (DCT scaling), which still reads every byte. WebP: OpenCV's 1/8 decode (libwebp scales
    while it decodes; a lossless WebP still needs 4 bytes per pixel, not Pillow's ~15). JPEG and WebP hold the
    image's pixels of the decode budget meanwhile.
    """
    try:
        if header.format == "PNG":
            pngcheck.check_pixel_data(data)
            return
        with bounded_decode(header.pixels):
            if header.format == "WEBP":
                _decode_reduced_webp(data)
                return
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                image = Image.open(io.BytesIO(data), formats=[header.format])
                image.draft("RGB", (max(1, header.width // 8), max(1, header.height // 8)))
                image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ValidationFailed(f"{param} is truncated or corrupt: {exc}", param, "corrupt_image") from None


def _decode_reduced_webp(data: bytes) -> np.ndarray:
    """The WebP at 1/8 scale (BGR), through OpenCV; ValueError when it does not decode."""
    import cv2

    try:  # at 1/8 scale an image under 8 px would be 0 px wide: OpenCV asserts instead of decoding
        pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_REDUCED_COLOR_8)
    except cv2.error:
        pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if len(data) < 65536 else None
    if pixels is None:
        raise ValueError("the WebP data does not decode")
    return pixels


def check_mask(data: bytes, header: ImageHeader, param: str = "mask") -> None:
    """Prove the mask decodes and marks some pixels, but not all, for change (a header-checked size is assumed).

    The mask is decoded in its own mode (1 byte per pixel for a grey PNG) inside the decode budget, and only its
    extremes are read: orientation does not change them.
    """
    with bounded_decode(header.pixels):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                image = Image.open(io.BytesIO(data), formats=[header.format])
                image.load()
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
            raise ValidationFailed(f"{param} is truncated or corrupt: {exc}", param, "corrupt_image") from None
        low, high = _mask_channel(image).getextrema()
    _check_coverage(low, high, param)


def _empty_mask(param: str) -> ValidationFailed:
    return ValidationFailed(f"{param} is empty: nothing is white (≥ {MASK_THRESHOLD}), so nothing would change",
                            param, "empty_mask")


def _check_coverage(low: int, high: int, param: str) -> None:
    if high < MASK_THRESHOLD:
        raise _empty_mask(param)
    if low >= MASK_THRESHOLD:
        raise ValidationFailed(f"{param} is white everywhere, so the whole image would be replaced; paint only the "
                               "area to change white, on black", param, "full_mask")


GREY_MODES = ("1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L")


def is_greyscale(data: bytes) -> bool:
    """The picture is stored without colour (a greyscale PNG or JPEG, 8 or 16 bits), read from its header."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as image:
                return image.mode in GREY_MODES
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        return False


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
    return normalise_mode(image)


def normalise_mode(image: Image.Image) -> Image.Image:
    if image.mode in ("RGB", "RGBA"):
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.uint32)
        image = Image.fromarray((array >> 8).clip(0, 255).astype(np.uint8), "L")
    has_alpha = image.mode in ("LA", "PA", "La", "RGBa") or (image.mode == "P" and "transparency" in image.info)
    return image.convert("RGBA" if has_alpha else "RGB")


def _mask_channel(image: Image.Image) -> Image.Image:
    """The mask's meaning as one "L" channel: alpha when it varies, else luminance (any decoded mode)."""
    if image.mode not in ("L", "RGB", "RGBA", "LA"):
        image = normalise_mode(image)  # palette, 1-bit, 16-bit: as decode_image reads them
    if image.mode in ("RGBA", "LA"):
        alpha = image.getchannel("A")
        low, high = alpha.getextrema()
        if low != high:  # an alpha that is opaque everywhere carries no mask; read the pixels instead
            return alpha
    return image if image.mode == "L" else image.convert("L")


def decode_mask(data: bytes, size: tuple[int, int], param: str = "mask") -> Image.Image:
    """A binary mask (mode "L", 0 or 255; 255 = change) from alpha when it varies, else from luminance."""
    image = decode_image(data, param)
    if image.size != size:
        raise ValidationFailed(f"{param} is {image.size[0]}×{image.size[1]} but the image is {size[0]}×{size[1]}; "
                               "they must match", param, "mask_size_mismatch")
    binary = (np.asarray(_mask_channel(image)) >= MASK_THRESHOLD).astype(np.uint8) * 255
    if not binary.any():
        raise _empty_mask(param)
    return Image.fromarray(binary, "L")


def encode_result(image: Image.Image, fmt: str, png_compress_level: int = 1,
                  quality: int | None = None) -> tuple[bytes, str]:
    """Encode a result without metadata; returns (bytes, content type). PNG stays lossless at any level; JPEG has
    no alpha, so a transparent result is flattened onto white (not onto whatever colour hides under its alpha)."""
    buffer = io.BytesIO()
    if fmt == "webp":
        image.save(buffer, format="WEBP", quality=quality or 90, alpha_quality=100, method=4)
        return buffer.getvalue(), "image/webp"
    if fmt == "jpeg":
        if image.mode in ("RGBA", "LA"):
            image = Image.alpha_composite(Image.new("RGBA", image.size, "white"), image.convert("RGBA"))
        image.convert("L" if image.mode == "L" else "RGB").save(buffer, format="JPEG", quality=quality or 92)
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
    """A 16-bit PNG of an H×W grey or H×W×3 or ×4 uint16 RGB(A) array, without metadata."""
    import cv2

    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGBA2BGRA if array.shape[2] == 4 else cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".png", array, [cv2.IMWRITE_PNG_COMPRESSION, png_compress_level])
    if not ok:
        raise ValueError("could not encode the 16-bit result as PNG")
    return encoded.tobytes()
