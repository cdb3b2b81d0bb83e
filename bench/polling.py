"""Section 2, status polling: GET /api/v1/jobs/<id> with a real key (auth, rate limiter, database) against
GET /healthz on the same server, from a concurrent loopback client; rounds alternate to share any noise."""
from __future__ import annotations

import statistics
import time
from urllib.parse import urlparse

from bench.httpload import LoadResult, load
from bench.service import BenchService, png_bytes
from bench.table import Row, goal

SECTION = "2 status polling"
CONNECTIONS = 8


def _done_job(service: BenchService) -> str:
    http = service.session()
    response = http.post(f"{service.base}/api/v1/enhance", files={"image": ("p.png", png_bytes(16, 16), "image/png")},
                         timeout=30)
    response.raise_for_status()
    job_id = response.json()["job_id"]
    for _ in range(300):
        if http.get(f"{service.base}/api/v1/jobs/{job_id}", timeout=30).json()["status"] == "done":
            return job_id
        time.sleep(0.05)
    raise RuntimeError("the polled job did not finish")


def _detail(results: list[LoadResult]) -> str:
    statuses: dict[int, int] = {}
    for r in results:
        for code, n in r.statuses.items():
            statuses[code] = statuses.get(code, 0) + n
    p50 = statistics.median(r.latency_p50_ms for r in results)
    cpu = max(r.client_cpu_share for r in results)
    codes = ", ".join(f"{n}×{code}" for code, n in sorted(statuses.items()))
    return (f"{len(results)} rounds × {results[0].seconds:g} s, {CONNECTIONS} connections; latency p50 {p50:.1f} ms; "
            f"{codes}; client CPU ≤ {cpu:.2f} core")


def run(service: BenchService, rounds: int, seconds: float) -> tuple[list[Row], dict[str, float]]:
    job_id = _done_job(service)
    url = urlparse(service.base)
    health, jobs = [], []
    for _ in range(rounds):
        health.append(load(url.hostname, url.port, "/healthz", connections=CONNECTIONS, seconds=seconds))
        jobs.append(load(url.hostname, url.port, f"/api/v1/jobs/{job_id}", service.headers,
                         connections=CONNECTIONS, seconds=seconds))
    for result in jobs:
        if set(result.statuses) != {200}:
            raise RuntimeError(f"polling answered {result.statuses}")
    health_rps = statistics.median(r.rps for r in health)
    jobs_rps = statistics.median(r.rps for r in jobs)
    ratio = jobs_rps / health_rps
    rows = [
        Row(SECTION, "GET /healthz", health_rps, "req/s", _detail(health)),
        Row(SECTION, "GET /api/v1/jobs/<id> (Bearer key, limiter, SQL)", jobs_rps, "req/s", _detail(jobs)),
        Row(SECTION, "poll_ratio", ratio, "×", f"goal ≥ 0.8: {goal(ratio >= 0.8)}"),
    ]
    return rows, {"poll_ratio": ratio}
