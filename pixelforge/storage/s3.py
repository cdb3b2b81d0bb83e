"""Objects in any S3-compatible store (AWS S3, SeaweedFS, MinIO, R2, …) through boto3, so every web and worker host
reads the same inputs and results. Credentials and region come from boto3's standard sources (AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_REGION, ~/.aws, instance roles)."""
from __future__ import annotations

import threading

from pixelforge.storage.errors import READINESS_PROBE_KEY, ObjectMissing, StorageError, StorageFull

_MISSING = {"NoSuchKey", "404", "NotFound"}
_FULL = {"EntityTooLarge", "QuotaExceeded", "InsufficientStorage", "StorageFull"}


class S3Storage:
    """One bucket and a key prefix. A PUT is atomic on S3, so a failed write leaves no partial object."""

    def __init__(self, bucket: str, prefix: str = "", endpoint_url: str | None = None,
                 public_endpoint_url: str | None = None):
        if len(bucket) < 3:
            raise ValueError(f"bucket name {bucket!r}: S3 bucket names have 3 to 63 characters")
        self.bucket, self.prefix = bucket, prefix.strip("/")
        self.endpoint_url, self.public_endpoint_url = endpoint_url, public_endpoint_url or endpoint_url
        self._local = threading.local()  # boto3 clients are thread-safe, sessions are not: one client per thread

    def _client(self, public: bool = False):
        name = "public" if public else "internal"
        client = getattr(self._local, name, None)
        if client is None:
            import boto3
            from botocore.config import Config

            config = Config(connect_timeout=5, read_timeout=60, retries={"max_attempts": 3, "mode": "standard"},
                            signature_version="s3v4",
                            s3={"addressing_style": "path" if self.endpoint_url else "auto"})
            endpoint = self.public_endpoint_url if public else self.endpoint_url
            client = boto3.session.Session().client("s3", endpoint_url=endpoint, config=config)
            setattr(self._local, name, client)
        return client

    def _key(self, key: str) -> str:
        if key.startswith("/") or ".." in key.split("/"):
            raise StorageError(f"object key {key!r} escapes the storage prefix")
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, data: bytes) -> None:
        try:
            self._client().put_object(Bucket=self.bucket, Key=self._key(key), Body=data)
        except Exception as exc:
            raise _storage_error("store", key, exc) from exc

    def get(self, key: str) -> bytes:
        try:
            return self._client().get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        except Exception as exc:
            raise _storage_error("read", key, exc) from exc

    def delete(self, key: str) -> None:
        try:
            self._client().delete_object(Bucket=self.bucket, Key=self._key(key))
        except Exception as exc:
            error = _storage_error("delete", key, exc)
            if not isinstance(error, ObjectMissing):
                raise error from exc

    def check_writable(self, min_free_bytes: int) -> None:
        """For /readyz: a small object written and deleted (a store has no free space to ask about)."""
        self.put(READINESS_PROBE_KEY, b"ok")
        self.delete(READINESS_PROBE_KEY)

    def presigned_url(self, key: str, seconds: int, content_type: str | None = None) -> str:
        """A time-limited GET URL on the store (as clients reach it), so downloads bypass the web tier."""
        params = {"Bucket": self.bucket, "Key": self._key(key)}
        if content_type:
            params["ResponseContentType"] = content_type
        return self._client(public=True).generate_presigned_url("get_object", Params=params, ExpiresIn=seconds)


def _storage_error(action: str, key: str, exc: Exception) -> StorageError:
    """The storage error for a boto3/botocore failure, worded without credentials or endpoints' internals."""
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in _MISSING:
            return ObjectMissing(f"{key} is not in storage")
        if code in _FULL:
            return StorageFull(f"storage is full ({code}); could not {action} {key}")
        return StorageError(f"could not {action} {key}: the store answered {code or 'an error'}")
    if isinstance(exc, BotoCoreError):
        return StorageError(f"could not {action} {key}: {type(exc).__name__}")
    raise exc
