"""The errors every storage backend raises, so callers never see a backend's own exceptions."""
from __future__ import annotations

from pixelforge.errors import PixelForgeError


class StorageError(PixelForgeError, RuntimeError):
    """Reading or writing an object failed (HTTP 502: retry later)."""

    status, code, title = 502, "storage_error", "Storage error"

    def api_message(self) -> str:
        return f"{self}; retry later"

    def person_message(self) -> str:
        return f"{self}; please try again later."


class ObjectMissing(StorageError):
    """The object is not (or no longer) there."""


class StorageFull(StorageError):
    """No room left to store an object (HTTP 507: nothing was charged; retry later)."""

    status, code, title = 507, "insufficient_storage", "Storage full"

    def api_message(self) -> str:
        return f"{self}; nothing was charged, retry later"

    def person_message(self) -> str:
        return "The server has no room for this image now; nothing was charged."

    def headers(self) -> dict[str, str]:
        return {"Retry-After": "60"}


READINESS_PROBE_KEY = ".readiness-probe"  # /readyz writes and deletes this object to prove writes work
