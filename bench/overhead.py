"""Section 1, job overhead: `enhance` on a 16×16 PNG, one job at a time, through the service's own worker
(RQ SimpleWorker) and through RQ's default forking Worker; submit→done from the jobs' own timestamps."""
from __future__ import annotations

import io
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime

from bench.service import BenchService, png_bytes
from bench.table import Row, goal

SECTION = "1 job overhead"
FORK_QUEUE = "pixelforge-bench-forking"
FINAL = ("done", "failed", "cancelled")
POLL_SECONDS = 0.002
WARMUP_JOBS = 3  # the first jobs of a worker pay one-off imports


def _wait_final(job_id: str, timeout: float = 60.0) -> str:
    """Poll the job's row in SQL (not over HTTP, so the web server is not kept busy) until it is final."""
    from sqlalchemy import select

    from pixelforge.extensions import db
    from pixelforge.models import Job

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = db.session.scalar(select(Job.status).where(Job.id == job_id))
        db.session.rollback()  # end the read transaction, or SQLite keeps showing the same snapshot
        if status in FINAL:
            return status
        time.sleep(POLL_SECONDS)
    raise TimeoutError(f"job {job_id} did not finish within {timeout} s")


def _timings(service: BenchService, job_ids: list[str]) -> dict[str, list[float]]:
    """ms from created_at to started_at / finished_at, read back with GET /api/v1/jobs/<id>."""
    http = service.session()
    out = {"total": [], "wait": [], "run": []}
    for job_id in job_ids:
        body = http.get(f"{service.base}/api/v1/jobs/{job_id}", timeout=30).json()
        if body["status"] != "done":
            raise RuntimeError(f"job {job_id} ended {body['status']}: {body.get('error')}")
        created, started, finished = (datetime.fromisoformat(body[k]) for k in
                                      ("created_at", "started_at", "finished_at"))
        out["total"].append((finished - created).total_seconds() * 1000)
        out["wait"].append((started - created).total_seconds() * 1000)
        out["run"].append((finished - started).total_seconds() * 1000)
    return out


def _through_service(service: BenchService, image: bytes, count: int) -> tuple[list[str], list[float]]:
    """Submit over HTTP to the running service; its own worker runs the jobs."""
    http = service.session()
    ids, submit_ms = [], []
    for _ in range(count):
        start = time.perf_counter()
        response = http.post(f"{service.base}/api/v1/enhance", files={"image": ("tiny.png", image, "image/png")},
                             timeout=30)
        submit_ms.append((time.perf_counter() - start) * 1000)
        response.raise_for_status()
        ids.append(response.json()["job_id"])
        _wait_final(ids[-1])
    return ids, submit_ms


def _through_forking_worker(service: BenchService, image: bytes, count: int, warm: bool) -> list[str]:
    """Submit through the same API code (Flask test client, queue renamed) to a forking rq.Worker."""
    command = [sys.executable, "-m", "bench.forking_worker", str(service.instance), service.redis_url, FORK_QUEUE,
               str(count)] + (["warm"] if warm else [])
    # RQ 3.0's forking worker sometimes logs a traceback while cleaning up a result_ttl=0 job after the run
    # (InvalidJobOperation); the job's row is already final by then, so its log is kept out of the table.
    log = tempfile.TemporaryFile(mode="w+")
    worker = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        if worker.stdout.readline().strip() != "ready":
            log.seek(0)
            raise RuntimeError(f"the forking worker did not start: {log.read()[-2000:]}")
        client = service.app(QUEUE_NAME=FORK_QUEUE).test_client()
        ids = []
        for _ in range(count):
            response = client.post("/api/v1/enhance", headers=service.headers,
                                   data={"image": (io.BytesIO(image), "tiny.png")}, content_type="multipart/form-data")
            if response.status_code != 202:
                raise RuntimeError(f"submission failed: {response.status_code} {response.get_json()}")
            ids.append(response.get_json()["job_id"])
            _wait_final(ids[-1])
        worker.wait(30)
        return ids
    finally:
        if worker.poll() is None:
            worker.terminate()
            worker.wait(10)
        log.close()


def _describe(t: dict[str, list[float]]) -> str:
    p90 = statistics.quantiles(t["total"], n=10)[-1] if len(t["total"]) >= 10 else max(t["total"])
    return (f"n={len(t['total'])}, p90 {p90:.1f} ms; created→started p50 {statistics.median(t['wait']):.1f} ms, "
            f"started→finished p50 {statistics.median(t['run']):.1f} ms")


def run(service: BenchService, jobs: int, warm_fork: bool = True) -> tuple[list[Row], dict[str, float]]:
    """jobs per worker kind (after WARMUP_JOBS); warm_fork adds the forking worker's floor (a warmed parent)."""
    image = png_bytes(16, 16)
    total = jobs + WARMUP_JOBS
    with service.app().app_context():  # for _wait_final's SQL polling
        ids, submit_ms = _through_service(service, image, total)
        fork_ids = _through_forking_worker(service, image, total, warm=False)
        warm_ids = _through_forking_worker(service, image, total, warm=True) if warm_fork else []
    ours = _timings(service, ids[WARMUP_JOBS:])
    forking = _timings(service, fork_ids[WARMUP_JOBS:])
    p50, p50_fork = statistics.median(ours["total"]), statistics.median(forking["total"])
    ratio = p50 / p50_fork
    rows = [
        Row(SECTION, "service worker (SimpleWorker): submit→done p50", p50, "ms", _describe(ours)),
        Row(SECTION, "RQ forking Worker: submit→done p50", p50_fork, "ms",
            _describe(forking) + "; parent pre-imports the task's modules"),
    ]
    if warm_ids:
        floor = _timings(service, warm_ids[WARMUP_JOBS:])
        p50_floor = statistics.median(floor["total"])
        rows.append(Row(SECTION, "RQ forking Worker, warmed parent: submit→done p50", p50_floor, "ms",
                        _describe(floor) + f"; parent also ran the engine once; ratio vs it {p50 / p50_floor:.2f}"))
    rows += [
        Row(SECTION, "HTTP POST /enhance round trip p50 (client side)", statistics.median(submit_ms[WARMUP_JOBS:]),
            "ms", "16×16 PNG, keep-alive"),
        Row(SECTION, "overhead_ratio", ratio, "×", f"goal ≤ 0.25: {goal(ratio <= 0.25)}"),
        Row(SECTION, "p50_submit_to_done_ms", p50, "ms", f"goal ≤ 10 ms: {goal(p50 <= 10)}"),
    ]
    return rows, {"overhead_ratio": ratio, "p50_submit_to_done_ms": p50}
