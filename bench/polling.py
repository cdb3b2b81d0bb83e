"""Section 2, status polling: GET /api/v1/jobs/<id> with a real key (auth, rate limiter, database) against
GET /healthz on the same server, from a concurrent loopback client; rounds alternate to share any noise."""
from __future__ import annotations

import statistics
import threading
import time
import uuid
from contextlib import contextmanager
from urllib.parse import urlparse

from bench.httpload import LoadResult, load
from bench.service import EMAIL, BenchService, png_bytes
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


@contextmanager
def _processing_job(service: BenchService):
    """A job row in `processing` whose (pretend) worker stamps heartbeat and progress every 0.5 s, as a real one
    does: what a client polls while it waits. No queue entry and no input, so no worker picks it up."""
    from pixelforge.extensions import db
    from pixelforge.models import Job, JobStatus, User, utcnow

    app = service.app()
    with app.app_context():
        user = db.session.scalar(db.select(User).filter_by(email=EMAIL))
        job = Job(id=str(uuid.uuid4()), user_id=user.id, operation="enhance", params={}, credits=1,
                  status=JobStatus.PROCESSING, input_key="bench/none", worker_name="bench", created_at=utcnow(),
                  started_at=utcnow(), heartbeat_at=utcnow(), input_width=16, input_height=16)
        db.session.add(job)
        db.session.commit()
        job_id = job.id
    stop = threading.Event()

    def stamp():
        progress = 0.0
        while not stop.wait(0.5):
            progress = min(0.99, progress + 0.01)
            with app.app_context():
                db.session.execute(db.update(Job).where(Job.id == job_id).values(heartbeat_at=utcnow(),
                                                                                   progress=progress))
                db.session.commit()
    thread = threading.Thread(target=stamp, daemon=True)
    thread.start()
    try:
        yield job_id
    finally:
        stop.set()
        thread.join()


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
    health, jobs, active = [], [], []
    with _processing_job(service) as active_id:
        for _ in range(rounds):
            health.append(load(url.hostname, url.port, "/healthz", connections=CONNECTIONS, seconds=seconds))
            jobs.append(load(url.hostname, url.port, f"/api/v1/jobs/{job_id}", service.headers,
                             connections=CONNECTIONS, seconds=seconds))
            active.append(load(url.hostname, url.port, f"/api/v1/jobs/{active_id}", service.headers,
                               connections=CONNECTIONS, seconds=seconds))
    for result in jobs + active:
        if set(result.statuses) != {200}:
            raise RuntimeError(f"polling answered {result.statuses}")
    health_rps = statistics.median(r.rps for r in health)
    jobs_rps = statistics.median(r.rps for r in jobs)
    active_rps = statistics.median(r.rps for r in active)
    ratio = jobs_rps / health_rps
    rows = [
        Row(SECTION, "GET /healthz", health_rps, "req/s", _detail(health)),
        Row(SECTION, "GET /api/v1/jobs/<id> (Bearer key, limiter, SQL)", jobs_rps, "req/s", _detail(jobs)),
        Row(SECTION, "  … of a processing job (heartbeat and progress written every 0.5 s)", active_rps, "req/s",
            _detail(active) + f"; {active_rps / health_rps:.2f} × /healthz"),
        Row(SECTION, "poll_ratio", ratio, "×", f"goal ≥ 0.8: {goal(ratio >= 0.8)} (finished job)"),
    ]
    return rows, {"poll_ratio": ratio}
