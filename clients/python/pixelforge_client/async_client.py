"""The asyncio twin of Client: the same methods, awaited."""
from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import httpx

from pixelforge_client.client import _job_id
from pixelforge_client.core import (USER_AGENT, ImageInput, Job, Result, RetryPolicy, form_fields, image_parts,
                                    parse_json, poll_interval, prefer_wait, resolve_settings)
from pixelforge_client.errors import JobFailed, PixelForgeError, WaitTimeout
from pixelforge_client.operations import OperationMethods


class AsyncClient(OperationMethods):
    """PixelForge's API for asyncio code; `async with AsyncClient() as pf: await pf.run(...)`."""

    def __init__(self, base_url: str | None = None, api_key: str | None = None, *, timeout: float = 60.0,
                 retry: RetryPolicy | None = None, http: httpx.AsyncClient | None = None):
        self.base_url, api_key = resolve_settings(base_url, api_key)
        self.retry = retry or RetryPolicy()
        self._http = http or httpx.AsyncClient(timeout=timeout)
        self.timeout = timeout
        self._headers = {"Authorization": f"Bearer {api_key}", "User-Agent": USER_AGENT}

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(self, method: str, path: str, *, headers: dict | None = None, **kwargs) -> httpx.Response:
        url = path if path.startswith("http") else self.base_url + path
        attempt = 0
        while True:
            try:
                response = await self._http.request(method, url, headers={**self._headers, **(headers or {})},
                                                    **kwargs)
            except httpx.TransportError as exc:
                delay = self.retry.delay(attempt, None)
                if delay is None:
                    raise PixelForgeError(f"could not reach {url}: {exc}", code="connection_error") from exc
            else:
                delay = self.retry.delay(attempt, response.status_code, response.headers)
                if delay is None:
                    return response
            await asyncio.sleep(delay)
            attempt += 1

    async def _json(self, method: str, path: str, **kwargs):
        response = await self._send(method, path, **kwargs)
        return parse_json(response.status_code, response.text, response.headers)

    async def submit(self, operation: str, image: ImageInput | None = None, mask: ImageInput | None = None, *,
                     idempotency_key: str | None = None, wait: float | None = None, **params) -> Job:
        headers = {"Idempotency-Key": idempotency_key or f"pfc-{uuid.uuid4()}", **prefer_wait(wait)}
        return Job.from_json(await self._json("POST", f"/{operation}", data=form_fields(params),
                                              files=image_parts(image, mask), headers=headers))

    async def get_job(self, job_id: str) -> Job:
        return Job.from_json(await self._json("GET", f"/jobs/{job_id}"))

    async def list_jobs(self, limit: int = 20, cursor: str | None = None) -> tuple[list[Job], str | None]:
        body = await self._json("GET", "/jobs", params={"limit": limit, **({"cursor": cursor} if cursor else {})})
        return [Job.from_json(job) for job in body["jobs"]], body.get("next_cursor")

    async def cancel(self, job: Job | str) -> Job:
        return Job.from_json(await self._json("POST", f"/jobs/{_job_id(job)}/cancel"))

    async def account(self) -> dict:
        return await self._json("GET", "/account")

    async def wait(self, job: Job | str, timeout: float = 600.0) -> Job:
        started = time.monotonic()
        current = job if isinstance(job, Job) else await self.get_job(job)
        while not current.final:
            elapsed = time.monotonic() - started
            if elapsed > timeout:
                raise WaitTimeout(f"job {current.id} is still {current.status} after {timeout:g} s",
                                  code="wait_timeout")
            await asyncio.sleep(poll_interval(elapsed))
            current = await self.get_job(current.id)
        if current.status != "done":
            raise JobFailed(current)
        return current

    async def download(self, job: Job | str, path: str | Path | None = None) -> Result:
        finished = job if isinstance(job, Job) and job.status == "done" else await self.get_job(_job_id(job))
        response = await self._send("GET", f"/jobs/{finished.id}/download")
        if response.status_code >= 400:
            parse_json(response.status_code, response.text, response.headers)
        result = Result(finished, response.content, response.headers.get("content-type"))
        if path is not None:
            result.save(path)
        return result

    async def run(self, operation: str, image: ImageInput, mask: ImageInput | None = None, *,
                  output: str | Path | None = None, timeout: float = 600.0, **params) -> Result:
        submitted = await self.submit(operation, image, mask, wait=min(timeout, self.timeout - 5), **params)
        return await self.download(await self.wait(submitted, timeout=timeout), output)
