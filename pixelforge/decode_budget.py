"""One pixel budget for every decode in the web process, so parallel uploads cannot multiply its memory.

Twelve 6300×6300 WebPs decoded at once took the web process from 0.45 to 7.6 GB, and glibc kept 2.8 GB of it.
Every decode here (upload checks, thumbnails) first holds its image's pixels from WEB_DECODE_PIXELS; when the
budget is spent, the next decode waits (DECODE_WAIT_SECONDS, then 503: nothing has been charged). An image larger
than the whole budget waits until it has it all. Freed memory goes back to the system: glibc's dynamic mmap
threshold otherwise lets the request threads' arenas keep a decode's buffers (measured: 233 MB kept after twelve
serialised OpenCV decodes on twelve threads, 2 MB with a fixed threshold), and malloc_trim runs after large decodes.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from flask import current_app

from pixelforge.queue import QueueUnavailable

log = logging.getLogger(__name__)

DECODE_WAIT_SECONDS = 30.0
TRIM_AFTER_PIXELS = 1_000_000  # decodes at least this big hand their freed memory back at once
MMAP_THRESHOLD_BYTES = 4 << 20  # allocations this big get their own mapping, unmapped when freed
M_MMAP_THRESHOLD = -3  # mallopt's parameter number (malloc.h)


class DecodeBusy(QueueUnavailable):
    """The web process is decoding as many pixels as it may; retry shortly (HTTP 503, nothing charged)."""


class PixelBudget:
    """At most `capacity` pixels being decoded at once; a waiter gets in as soon as its share is free."""

    def __init__(self, capacity: int):
        self.capacity = max(1, int(capacity))
        self.in_use = 0
        self._changed = threading.Condition()

    @contextmanager
    def hold(self, pixels: int, timeout: float = DECODE_WAIT_SECONDS) -> Iterator[None]:
        share = min(max(1, int(pixels)), self.capacity)
        with self._changed:
            if not self._changed.wait_for(lambda: self.in_use + share <= self.capacity, timeout):
                raise DecodeBusy("the server is busy checking other images; retry in a few seconds")
            self.in_use += share
        try:
            yield
        finally:
            with self._changed:
                self.in_use -= share
                self._changed.notify_all()
            if pixels >= TRIM_AFTER_PIXELS:
                release_free_memory()


_budget: PixelBudget | None = None
_budget_lock = threading.Lock()


def process_budget() -> PixelBudget:
    """This process's budget, sized by the app's WEB_DECODE_PIXELS (one per process: memory is per process)."""
    global _budget
    capacity = int(current_app.config["WEB_DECODE_PIXELS"])
    with _budget_lock:
        if _budget is None:
            _fix_mmap_threshold()
        if _budget is None or _budget.capacity != capacity:  # a changed setting (tests) starts a new budget
            _budget = PixelBudget(capacity)
        return _budget


@contextmanager
def bounded_decode(pixels: int) -> Iterator[None]:
    """Run the block while holding `pixels` of the process's decode budget."""
    with process_budget().hold(pixels):
        yield


def _libc():
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name) if name else None
    except OSError:
        return None


_LIBC = _libc()


def _fix_mmap_threshold() -> None:
    """Large buffers in their own mappings, whatever was freed before (glibc only; once per process)."""
    mallopt = getattr(_LIBC, "mallopt", None)
    if mallopt is not None and not mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES):
        log.warning("could not fix malloc's mmap threshold; large decodes may leave memory in use")


def release_free_memory() -> None:
    """Ask glibc to return freed heap pages to the system (large decodes leave them in its arenas otherwise)."""
    trim = getattr(_LIBC, "malloc_trim", None)
    if trim is not None:  # glibc only; elsewhere the allocator keeps its own policy
        trim(0)
