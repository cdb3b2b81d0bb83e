"""Prove a PNG whole without holding its pixels.

Pillow's verify() checks chunk CRCs only, so a PNG whose compressed pixel data is damaged (and whose CRCs were
recomputed) passed, and was charged, queued and failed in the worker. Here every chunk's CRC is checked, and the
IDAT stream is inflated piece by piece into a small buffer: it must hold at least the rows the header promises,
each starting with a valid filter type (0–4), which is what a decoder needs to succeed. Memory stays at one
piece, whatever the image's size.
"""
from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator

SIGNATURE = b"\x89PNG\r\n\x1a\n"
PIECE_BYTES = 1 << 20  # inflated bytes held at once
FILTER_TYPES = bytes(range(5))
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # by colour type
ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


class BrokenPng(ValueError):
    """The file is truncated or its data does not decode; the message says where."""


def chunks(data: bytes, check_crc: bool = True) -> Iterator[tuple[bytes, memoryview]]:
    """(type, body) of each chunk up to and including IEND; BrokenPng if the file ends first or a CRC is wrong."""
    view, offset = memoryview(data), len(SIGNATURE)
    while True:
        if offset + 8 > len(data):
            raise BrokenPng("the file ends before its IEND chunk (truncated)")
        length, kind = struct.unpack_from(">I4s", data, offset)
        end = offset + 8 + length
        if end + 4 > len(data):
            raise BrokenPng(f"the file ends inside its {kind.decode('latin-1')} chunk (truncated)")
        body = view[offset + 8:end]
        if check_crc and zlib.crc32(body, zlib.crc32(kind)) != struct.unpack_from(">I", data, end)[0]:
            raise BrokenPng(f"the {kind.decode('latin-1')} chunk's checksum is wrong")
        yield kind, body
        if kind == b"IEND":
            return
        offset = end + 4


def find_exif(data: bytes) -> bytes | None:
    """The eXIf chunk's body wherever it is (Pillow's getexif() decodes the whole image to look after IDAT)."""
    try:
        for kind, body in chunks(data, check_crc=False):
            if kind == b"eXIf":
                return bytes(body)
    except BrokenPng:
        return None
    return None


def _row_strides(header: memoryview) -> list[tuple[int, int]]:
    """(rows, bytes per row including its filter byte) of each pass, from IHDR."""
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header[:13])
    if colour not in CHANNELS:
        raise BrokenPng(f"unknown PNG colour type {colour}")
    bits = CHANNELS[colour] * depth
    if not interlace:
        return [(height, 1 + (width * bits + 7) // 8)]
    strides = []
    for x0, y0, dx, dy in ADAM7:
        columns, rows = (width - x0 + dx - 1) // dx, (height - y0 + dy - 1) // dy
        if columns > 0 and rows > 0:
            strides.append((rows, 1 + (columns * bits + 7) // 8))
    return strides


class _RowChecker:
    """Follows the inflated stream piece by piece and checks the filter byte that starts every row."""

    def __init__(self, strides: list[tuple[int, int]]):
        self.segments = []  # (first byte, end, stride) of each pass in the inflated stream
        start = 0
        for rows, stride in strides:
            self.segments.append((start, start + rows * stride, stride))
            start += rows * stride
        self.expected = start
        self.seen = 0

    def feed(self, piece: bytes) -> None:
        begin, end = self.seen, self.seen + len(piece)
        for first, last, stride in self.segments:
            low, high = max(begin, first), min(end, last)
            if low >= high:
                continue
            next_row = first + -(-(low - first) // stride) * stride  # the first row start at or after low
            if next_row < high and piece[next_row - begin:high - begin:stride].translate(None, FILTER_TYPES):
                raise BrokenPng("a row of pixel data names an unknown filter type")
        self.seen = end


def check_pixel_data(data: bytes) -> None:
    """Raise BrokenPng unless every chunk is intact and the IDAT stream inflates to every row of the image."""
    if not data.startswith(SIGNATURE):
        raise BrokenPng("not a PNG file")
    inflater, rows = zlib.decompressobj(), None
    try:
        for kind, body in chunks(data):
            if kind == b"IHDR":
                rows = _RowChecker(_row_strides(body))
            elif kind == b"IDAT" and rows is not None and rows.seen < rows.expected:
                pending = body
                while pending and not inflater.eof and rows.seen < rows.expected:
                    rows.feed(inflater.decompress(pending, PIECE_BYTES))
                    pending = inflater.unconsumed_tail
    except zlib.error as exc:
        raise BrokenPng(f"its pixel data does not decompress ({exc})") from None
    if rows is None:
        raise BrokenPng("it has no IHDR chunk")
    if rows.seen < rows.expected:
        raise BrokenPng(f"its pixel data ends after {rows.seen:,} of {rows.expected:,} bytes (truncated)")
