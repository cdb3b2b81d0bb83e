"""Where images live. The Storage protocol is what jobs use; LocalStorage keeps files in the instance folder.

S3-compatible storage is planned (DESIGN.md): it implements the same four methods.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Protocol

from flask import current_app


class StorageError(RuntimeError):
    """Reading or writing an object failed (HTTP 502: retry later)."""


class ObjectMissing(StorageError):
    """The object is not (or no longer) there."""


class Storage(Protocol):
    def put(self, key: str, data: bytes) -> None: ...
    def get(self, key: str) -> bytes: ...
    def delete(self, key: str) -> None: ...
    def path(self, key: str) -> Path: ...


class LocalStorage:
    """Objects as files under one root; writes are atomic (temp file + rename)."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def path(self, key: str) -> Path:
        resolved = (self.root / key).resolve()
        if self.root.resolve() not in resolved.parents:
            raise StorageError(f"object key {key!r} escapes the storage root")
        return resolved

    def put(self, key: str, data: bytes) -> None:
        target = self.path(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, target)
        except OSError as exc:
            raise StorageError(f"could not store {key}: {exc}") from exc

    def get(self, key: str) -> bytes:
        try:
            return self.path(key).read_bytes()
        except FileNotFoundError:
            raise ObjectMissing(f"{key} is not in storage") from None
        except OSError as exc:
            raise StorageError(f"could not read {key}: {exc}") from exc

    def delete(self, key: str) -> None:
        try:
            self.path(key).unlink(missing_ok=True)
        except OSError as exc:
            raise StorageError(f"could not delete {key}: {exc}") from exc


def get_storage() -> Storage:
    """The app's storage (one per app, made on first use)."""
    storage = current_app.extensions.get("pixelforge.storage")
    if storage is None:
        storage = LocalStorage(current_app.config["STORAGE_DIR"])
        current_app.extensions["pixelforge.storage"] = storage
    return storage


def job_object_key(job_id: str, name: str) -> str:
    """Objects of one job share a folder: jobs/<first two chars>/<job id>/<name>."""
    return f"jobs/{job_id[:2]}/{job_id}/{name}"
