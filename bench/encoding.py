"""Section 3, result encoding: the PNG settings we ship (pixelforge.images.encode_result at the configured default
level) against Pillow's default save(format="PNG"), on a photographic 4 MP image; WebP; zlib levels 0–9."""
from __future__ import annotations

import io
import statistics
import time
import zlib

import numpy as np
from PIL import Image

from bench.fixtures import photo
from bench.table import Row, goal

SECTION = "3 result encoding"
SIDE = 2048  # 4.19 MP


def _timed(encode, repeats: int) -> tuple[float, bytes]:
    """Median seconds of `repeats` runs of encode() and the bytes it returned."""
    times, data = [], b""
    for _ in range(repeats):
        start = time.perf_counter()
        data = encode()
        times.append(time.perf_counter() - start)
    return statistics.median(times), data


def _pillow_png(image: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **options)
    return buffer.getvalue()


def _lossless(data: bytes, array: np.ndarray) -> bool:
    decoded = Image.open(io.BytesIO(data))
    return decoded.format == "PNG" and np.array_equal(np.asarray(decoded.convert("RGB")), array)


def run(repeats: int, levels: list[int], alternatives: bool) -> tuple[list[Row], dict[str, float]]:
    from pixelforge.config import Defaults
    from pixelforge.images import encode_result

    array = photo(SIDE, SIDE)
    image = Image.fromarray(array, "RGB")
    mp = SIDE * SIDE / 1e6
    shipped = Defaults.PNG_COMPRESS_LEVEL
    t_ship, ours = _timed(lambda: encode_result(image, "png", shipped)[0], repeats)
    t_default, default = _timed(lambda: _pillow_png(image), repeats)
    t_webp, webp = _timed(lambda: encode_result(image, "webp")[0], repeats)
    if not _lossless(ours, array):
        raise AssertionError("the shipped PNG encoding did not round-trip to the same pixels")
    ratio = t_default / t_ship
    where = f"astronaut → {SIDE}×{SIDE} + grain, {mp:.2f} MP, median of {repeats}"
    rows = [
        Row(SECTION, f"PNG as shipped (encode_result, level {shipped})", mp / t_ship, "MP/s",
            f"{len(ours) / 1e6:.2f} MB; lossless round trip: pixels equal; {where}"),
        Row(SECTION, "PNG Pillow default save(format='PNG')", mp / t_default, "MP/s", f"{len(default) / 1e6:.2f} MB"),
        Row(SECTION, "WebP as shipped (quality 90, method 4; lossy)", mp / t_webp, "MP/s", f"{len(webp) / 1e6:.2f} MB"),
        Row(SECTION, "encode_ratio", ratio, "×", f"goal ≥ 3: {goal(ratio >= 3)}"),
    ]
    for level in levels:
        seconds, data = _timed(lambda: _pillow_png(image, compress_level=level), 1 if level >= 7 else repeats)
        rows.append(Row(SECTION, f"PNG zlib level {level}", mp / seconds, "MP/s", f"{len(data) / 1e6:.2f} MB"))
    if alternatives:
        rows += _alternatives(image, array, mp, repeats, shipped)
    return rows, {"encode_ratio": ratio}


def _alternatives(image: Image.Image, array: np.ndarray, mp: float, repeats: int, level: int) -> list[Row]:
    """Same level, other zlib strategies; and OpenCV's PNG encoder. Each is checked lossless."""
    import cv2

    rows = []
    for name, strategy in (("Z_RLE", zlib.Z_RLE), ("Z_HUFFMAN_ONLY", zlib.Z_HUFFMAN_ONLY),
                           ("Z_FILTERED", zlib.Z_FILTERED)):
        seconds, data = _timed(lambda: _pillow_png(image, compress_level=level, compress_type=strategy), repeats)
        rows.append(Row(SECTION, f"PNG level {level}, strategy {name}", mp / seconds, "MP/s",
                        f"{len(data) / 1e6:.2f} MB; lossless: {_lossless(data, array)}"))
    bgr = np.ascontiguousarray(array[..., ::-1])
    seconds, data = _timed(lambda: cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, level])[1].tobytes(),
                           repeats)
    rows.append(Row(SECTION, f"PNG OpenCV imencode, level {level}", mp / seconds, "MP/s",
                    f"{len(data) / 1e6:.2f} MB; lossless: {_lossless(data, array)}"))
    return rows
