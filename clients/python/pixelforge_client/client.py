"""The synchronous client: submit, wait, download and run, with retries that never charge twice."""
from __future__ import annotations

import time
import uuid
from pathlib import Path

import httpx

from pixelforge_client.core import (USER_AGENT, ImageInput, Job, Result, RetryPolicy, form_fields, image_parts,
                                    parse_json, poll_interval, prefer_wait, resolve_settings)
from pixelforge_client.errors import JobFailed, PixelForgeError, WaitTimeout
from pixelforge_client.operations import OperationMethods


class Client(OperationMethods):
    """PixelForge's API. Arguments left out come from PIXELFORGE_BASE_URL and PIXELFORGE_API_KEY."""

    def __init__(self, base_url: str | None = None, api_key: str | None = None, *, timeout: float = 60.0,
                 retry: RetryPolicy | None = None, http: httpx.Client | None = None):
        self.base_url, api_key = resolve_settings(base_url, api_key)
        self.retry = retry or RetryPolicy()
        self._http = http or httpx.Client(timeout=timeout)
        self.timeout = timeout
        self._headers = {"Authorization": f"Bearer {api_key}", "User-Agent": USER_AGENT}

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _send(self, method: str, path: str, *, headers: dict | None = None, **kwargs) -> httpx.Response:
        """One request, retried on 429/502/503/504 and connection errors (a submission keeps its Idempotency-Key)."""
        url = path if path.startswith("http") else self.base_url + path
        attempt = 0
        while True:
            try:
                response = self._http.request(method, url, headers={**self._headers, **(headers or {})}, **kwargs)
            except httpx.TransportError as exc:
                delay = self.retry.delay(attempt, None)
                if delay is None:
                    raise PixelForgeError(f"could not reach {url}: {exc}", code="connection_error") from exc
            else:
                delay = self.retry.delay(attempt, response.status_code, response.headers)
                if delay is None:
                    return response
            time.sleep(delay)
            attempt += 1

    def _json(self, method: str, path: str, **kwargs):
        response = self._send(method, path, **kwargs)
        return parse_json(response.status_code, response.text, response.headers)

    def submit(self, operation: str, image: ImageInput | None = None, mask: ImageInput | None = None, *,
               idempotency_key: str | None = None, wait: float | None = None, **params) -> Job:
        """Queue a job and return it (status "queued"); retries reuse one Idempotency-Key, so one charge. With
        wait=N (seconds, ≤ 60), the server holds the answer until the job ends (then the job is final) or N pass.
        image may be None when params give image_url or image_job_id."""
        headers = {"Idempotency-Key": idempotency_key or f"pfc-{uuid.uuid4()}", **prefer_wait(wait)}
        body = self._json("POST", f"/{operation}", data=form_fields(params), files=image_parts(image, mask),
                          headers=headers)
        return Job.from_json(body)

    def get_job(self, job_id: str) -> Job:
        return Job.from_json(self._json("GET", f"/jobs/{job_id}"))

    def list_jobs(self, limit: int = 20, cursor: str | None = None) -> tuple[list[Job], str | None]:
        params = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        body = self._json("GET", "/jobs", params=params)
        return [Job.from_json(job) for job in body["jobs"]], body.get("next_cursor")

    def cancel(self, job: Job | str) -> Job:
        return Job.from_json(self._json("POST", f"/jobs/{_job_id(job)}/cancel"))

    def account(self) -> dict:
        return self._json("GET", "/account")

    def wait(self, job: Job | str, timeout: float = 600.0) -> Job:
        """The job once final; JobFailed if it failed or was cancelled, WaitTimeout if still active at timeout."""
        started = time.monotonic()
        current = job if isinstance(job, Job) else self.get_job(job)
        while not current.final:
            elapsed = time.monotonic() - started
            if elapsed > timeout:
                raise WaitTimeout(f"job {current.id} is still {current.status} after {timeout:g} s",
                                  code="wait_timeout")
            time.sleep(poll_interval(elapsed))
            current = self.get_job(current.id)
        if current.status != "done":
            raise JobFailed(current)
        return current

    def download(self, job: Job | str, path: str | Path | None = None) -> Result:
        """The finished job's result (saved to path when given)."""
        finished = job if isinstance(job, Job) and job.status == "done" else self.get_job(_job_id(job))
        response = self._send("GET", f"/jobs/{finished.id}/download")
        if response.status_code >= 400:
            parse_json(response.status_code, response.text, response.headers)
        result = Result(finished, response.content, response.headers.get("content-type"))
        if path is not None:
            result.save(path)
        return result

    def run(self, operation: str, image: ImageInput, mask: ImageInput | None = None, *,
            output: str | Path | None = None, timeout: float = 600.0, **params) -> Result:
        """Submit, wait and download in one call: the server's wait mode (Prefer: wait) first, so a job that ends
        within it costs one request; polling only for a longer one, or a server without wait mode."""
        submitted = self.submit(operation, image, mask, wait=min(timeout, self.timeout - 5), **params)
        return self.download(self.wait(submitted, timeout=timeout), output)


def _job_id(job: Job | str) -> str:
    return job.id if isinstance(job, Job) else job
