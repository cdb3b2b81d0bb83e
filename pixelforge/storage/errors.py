"""The errors every storage backend raises, so callers never see a backend's own exceptions."""
from __future__ import annotations


class StorageError(RuntimeError):
    """Reading or writing an object failed (HTTP 502: retry later)."""


class ObjectMissing(StorageError):
    """The object is not (or no longer) there."""


class StorageFull(StorageError):
    """No room left to store an object (HTTP 507: nothing was charged; retry later)."""


READINESS_PROBE_KEY = ".readiness-probe"  # /readyz writes and deletes this object to prove writes work
