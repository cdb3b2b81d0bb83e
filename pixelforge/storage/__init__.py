"""Where images live: one Storage protocol, chosen by STORAGE_URL — file:// (the default, a folder of this host) or
s3://bucket/prefix (any S3-compatible store, shared by every web and worker host)."""
from __future__ import annotations

from typing import Protocol
from urllib.parse import unquote, urlparse

from flask import current_app

from pixelforge.storage.errors import READINESS_PROBE_KEY, ObjectMissing, StorageError, StorageFull

__all__ = ["READINESS_PROBE_KEY", "ObjectMissing", "Storage", "StorageError", "StorageFull", "get_storage",
           "job_object_key", "storage_from_config"]


class Storage(Protocol):
    def put(self, key: str, data: bytes) -> None: ...
    def get(self, key: str) -> bytes: ...
    def delete(self, key: str) -> None: ...
    def check_writable(self, min_free_bytes: int) -> None: ...
    def presigned_url(self, key: str, seconds: int, content_type: str | None = None) -> str | None: ...


class UnknownStorageUrl(ValueError):
    """STORAGE_URL names a scheme we have no backend for."""


def storage_from_config(config) -> Storage:
    """The backend STORAGE_URL names (the config is Flask's, or any mapping with the same keys)."""
    url = urlparse(config["STORAGE_URL"])
    if url.scheme == "file":
        from pixelforge.storage.local import LocalStorage

        return LocalStorage(unquote(url.path))
    if url.scheme == "s3":
        from pixelforge.storage.s3 import S3Storage

        return S3Storage(bucket=url.netloc, prefix=url.path.strip("/"), endpoint_url=config["S3_ENDPOINT_URL"],
                         public_endpoint_url=config["S3_PUBLIC_ENDPOINT_URL"])
    raise UnknownStorageUrl(f"STORAGE_URL {config['STORAGE_URL']!r}: use file:///path or s3://bucket/prefix")


def get_storage() -> Storage:
    """The app's storage (one per app, made on first use)."""
    storage = current_app.extensions.get("pixelforge.storage")
    if storage is None:
        storage = current_app.extensions["pixelforge.storage"] = storage_from_config(current_app.config)
    return storage


def job_object_key(job_id: str, name: str) -> str:
    """Objects of one job share a folder: jobs/<first two chars>/<job id>/<name>."""
    return f"jobs/{job_id[:2]}/{job_id}/{name}"
