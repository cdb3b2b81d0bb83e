"""Objects as files in a folder of this host (the default: <instance>/storage)."""
from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path

from pixelforge.storage.errors import READINESS_PROBE_KEY, ObjectMissing, StorageError, StorageFull

_FULL = (errno.ENOSPC, errno.EDQUOT)


def _write_error(key: str, exc: OSError) -> StorageError:
    """The named error for a failed write, worded without server paths (clients may be shown it)."""
    reason = exc.strerror or type(exc).__name__
    if exc.errno in _FULL:
        return StorageFull(f"storage is full ({reason}); could not store {key}")
    return StorageError(f"could not store {key}: {reason}")


class LocalStorage:
    """Objects as files under one root; writes are atomic (temp file + rename) and leave nothing when they fail."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def path(self, key: str) -> Path:
        resolved = (self.root / key).resolve()
        if self.root.resolve() not in resolved.parents:
            raise StorageError(f"object key {key!r} escapes the storage root")
        return resolved

    def put(self, key: str, data: bytes) -> None:
        """Store data under key; StorageFull when the disk has no room. A partial temp file is always removed
        (on a full disk, the job's time limit or any other interruption), or it would keep the disk full."""
        target = self.path(key)
        tmp = None
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, target)
            tmp = None
        except OSError as exc:
            raise _write_error(key, exc) from exc
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)

    def check_writable(self, min_free_bytes: int) -> None:
        """For /readyz: StorageFull below min_free_bytes free, StorageError when a small probe write fails."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            stats = os.statvfs(self.root)
        except OSError as exc:
            raise _write_error("the readiness probe", exc) from exc
        free = stats.f_bavail * stats.f_frsize
        if free < min_free_bytes:
            raise StorageFull(f"storage has {free:,} bytes free, under STORAGE_MIN_FREE_BYTES ({min_free_bytes:,})")
        self.put(READINESS_PROBE_KEY, b"ok")
        self.delete(READINESS_PROBE_KEY)

    def get(self, key: str) -> bytes:
        try:
            return self.path(key).read_bytes()
        except FileNotFoundError:
            raise ObjectMissing(f"{key} is not in storage") from None
        except OSError as exc:
            raise StorageError(f"could not read {key}: {exc.strerror or type(exc).__name__}") from exc

    def delete(self, key: str) -> None:
        try:
            self.path(key).unlink(missing_ok=True)
        except OSError as exc:
            raise StorageError(f"could not delete {key}: {exc.strerror or type(exc).__name__}") from exc

    def presigned_url(self, key: str, seconds: int, content_type: str | None = None) -> None:
        """A folder of this host has no URL of its own: results are served by the API."""
        return None
