"""What the sync and async clients share: settings, the job model, request parts and the retry policy."""
from __future__ import annotations

import mimetypes
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Union

from pixelforge_client.errors import PixelForgeError, error_from_response

ImageInput = Union[str, os.PathLike, bytes, IO[bytes]]
FINAL_STATUSES = frozenset({"done", "failed", "cancelled"})
RETRIED_STATUSES = frozenset({429, 502, 503, 504})
USER_AGENT = "pixelforge-client/0.1"


def resolve_settings(base_url: str | None, api_key: str | None) -> tuple[str, str]:
    """The base URL and key, falling back to PIXELFORGE_BASE_URL and PIXELFORGE_API_KEY (as the server's CLI does)."""
    base_url = base_url or os.environ.get("PIXELFORGE_BASE_URL") or "http://127.0.0.1:8000"
    api_key = api_key or os.environ.get("PIXELFORGE_API_KEY")
    if not api_key:
        raise PixelForgeError("no API key: pass api_key=... or set PIXELFORGE_API_KEY", code="missing_api_key")
    base_url = base_url.rstrip("/")
    if not base_url.endswith("/api/v1"):
        base_url += "/api/v1"
    return base_url, api_key


@dataclass(frozen=True)
class Job:
    """A job as the API last described it; `raw` keeps every field, including ones newer than this client."""

    id: str
    status: str
    operation: str | None = None
    params: dict = field(default_factory=dict)
    engine: str | None = None
    model: str | None = None
    progress: float = 0.0
    credits: int = 0
    refunded: bool = False
    result_url: str | None = None
    result: dict | None = None
    error: dict | None = None
    raw: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, body: dict) -> "Job":
        return cls(id=body["job_id"], status=body["status"], operation=body.get("operation"),
                   params=body.get("params") or {}, engine=body.get("engine"), model=body.get("model"),
                   progress=body.get("progress") or 0.0, credits=body.get("credits") or 0,
                   refunded=bool(body.get("refunded")), result_url=body.get("result_url"),
                   result=body.get("result"), error=body.get("error"), raw=body)

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def credits_spent(self) -> int:
        return 0 if self.refunded or self.status != "done" else self.credits


@dataclass(frozen=True)
class Result:
    """A finished job and its result's bytes."""

    job: Job
    data: bytes
    content_type: str | None

    @property
    def extension(self) -> str:
        return extension_for(self.content_type)

    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.part")
        partial.write_bytes(self.data)
        partial.replace(path)  # a half-written file never looks like a finished result
        return path


def extension_for(content_type: str | None) -> str:
    kind = (content_type or "").split(";")[0].strip()
    return {"image/png": "png", "image/webp": "webp", "image/jpeg": "jpg"}.get(kind, "bin")


def image_part(name: str, image: ImageInput) -> tuple[str, tuple[str, bytes, str]]:
    """A multipart file part from a path, bytes or an open binary file (its bytes, never its text)."""
    if isinstance(image, (bytes, bytearray)):
        filename, data = name, bytes(image)
    elif isinstance(image, (str, os.PathLike)):
        path = Path(image)
        filename, data = path.name, path.read_bytes()
    elif hasattr(image, "read"):
        data = image.read()
        if isinstance(data, str):
            raise TypeError(f"{name} must be opened in binary mode ('rb')")
        filename = Path(getattr(image, "name", name)).name
    else:
        raise TypeError(f"{name} must be a path, bytes or a binary file, not {type(image).__name__}")
    content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    return name, (filename, data, content_type)


def image_parts(image: ImageInput | None, mask: ImageInput | None) -> list:
    """The multipart file parts: none when the image comes by image_url or image_job_id."""
    return [image_part(name, value) for name, value in (("image", image), ("mask", mask)) if value is not None]


def prefer_wait(seconds: float | None) -> dict[str, str]:
    """The Prefer header of the server's wait mode (whole seconds, 1–60), or none."""
    if not seconds or seconds < 1:
        return {}
    return {"Prefer": f"wait={int(min(seconds, 60))}"}


def form_fields(params: dict[str, Any]) -> dict[str, str]:
    """Parameters as form fields; None means "the server's default" and is left out."""
    fields = {}
    for name, value in params.items():
        if value is None:
            continue
        fields[name] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return fields


def parse_json(status: int, body_text: str, headers) -> Any:
    """The JSON body of a success, or the matching PixelForgeError for an error answer."""
    import json

    try:
        body = json.loads(body_text) if body_text else None
    except ValueError:
        body = body_text
    if status >= 400:
        raise error_from_response(status, body, dict(headers))
    return body


@dataclass(frozen=True)
class RetryPolicy:
    """Retries on 429 (after Retry-After), 502/503/504 and connection errors, with jittered exponential backoff."""

    max_retries: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0

    def delay(self, attempt: int, status: int | None, headers=None) -> float | None:
        """Seconds to wait before retry number attempt + 1, or None to give up."""
        if attempt >= self.max_retries:
            return None
        if status is not None and status not in RETRIED_STATUSES:
            return None
        retry_after = (headers or {}).get("retry-after")
        if retry_after:
            try:
                return min(float(retry_after), self.max_delay * 4)
            except ValueError:
                pass
        backoff = min(self.max_delay, self.base_delay * 2 ** attempt)
        return backoff * (0.5 + random.random() / 2)


def poll_interval(elapsed: float) -> float:
    """Short polls while a job is likely to finish soon, then at most every 2 s."""
    return min(2.0, 0.1 + elapsed / 5)
