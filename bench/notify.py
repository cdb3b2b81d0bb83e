"""Section 7, how a client learns that its job ended: (a) the seed's client polling every 2 s, (b) `Prefer: wait`,
(c) Server-Sent Events, (d) a webhook receiver. Per way: HTTP requests per job until the client knows, and how long
after the job's own finished_at it knows (the server's stamp and the client's clock are the same machine's)."""
from __future__ import annotations

import io
import json
import statistics
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import requests
from PIL import Image

from bench.service import BenchService
from bench.table import Row, goal

SECTION = "7 job notification"
POLL_SECONDS = 2.0
SIZE = 424  # enhance of a 424×424 photo: about a 100 ms job on the classical engine (the table says how long)


def _photo() -> bytes:
    rng = np.random.default_rng(7)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8), "RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def _finished_at(job: dict) -> float:
    return datetime.fromisoformat(job["finished_at"].replace("Z", "+00:00")).timestamp()


def _run_seconds(job: dict) -> float:
    started = datetime.fromisoformat(job["started_at"].replace("Z", "+00:00")).timestamp()
    return _finished_at(job) - started


def _submit(http: requests.Session, base: str, image: bytes, headers=None, **fields) -> requests.Response:
    response = http.post(f"{base}/api/v1/enhance", files={"image": ("p.png", image, "image/png")}, data=fields,
                         headers=headers or {}, timeout=90)
    response.raise_for_status()
    return response


def by_polling(http, base, image) -> tuple[int, float, dict]:
    """The seed's loop: submit, then every 2 s ask until the job is final."""
    job_id, requests_made = _submit(http, base, image).json()["job_id"], 1
    while True:
        time.sleep(POLL_SECONDS)
        job = http.get(f"{base}/api/v1/jobs/{job_id}", timeout=30).json()
        requests_made += 1
        if job["status"] in ("done", "failed", "cancelled"):
            return requests_made, time.time(), job


def by_waiting(http, base, image) -> tuple[int, float, dict]:
    job = _submit(http, base, image, headers={"Prefer": "wait=60"}).json()
    return 1, time.time(), job


def by_events(http, base, image) -> tuple[int, float, dict]:
    job_id = _submit(http, base, image).json()["job_id"]
    with http.get(f"{base}/api/v1/jobs/{job_id}/events", stream=True, timeout=90) as stream:
        name = None
        for line in stream.iter_lines(decode_unicode=True):
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: ") and name in ("done", "failed", "cancelled"):
                return 2, time.time(), json.loads(line[6:])
    raise RuntimeError(f"the event stream of {job_id} ended without a final event")


class _Receiver:
    """A webhook receiver on loopback that notes when each message arrived."""

    def __init__(self):
        self.arrived: dict[str, tuple[float, dict]] = {}
        self.event = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                at = time.time()
                self.send_response(204)
                self.end_headers()
                data = json.loads(body)["data"]
                with receiver.event:
                    receiver.arrived[data["job_id"]] = (at, data)
                    receiver.event.notify_all()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def wait_for(self, job_id: str, timeout: float = 60) -> tuple[float, dict]:
        with self.event:
            self.event.wait_for(lambda: job_id in self.arrived, timeout)
        return self.arrived[job_id]


def by_webhook(http, base, image, receiver: _Receiver) -> tuple[int, float, dict]:
    job_id = _submit(http, base, image, webhook_url=receiver.url).json()["job_id"]
    at, job = receiver.wait_for(job_id)
    return 1, at, job


def run(service: BenchService, jobs: int, polled_jobs: int) -> tuple[list[Row], dict[str, float]]:
    http, image, receiver = service.session(), _photo(), _Receiver()
    ways = {"(a) 2 s polling (the seed's client)": (by_polling, polled_jobs),
            "(b) Prefer: wait": (by_waiting, jobs), "(c) Server-Sent Events": (by_events, jobs),
            "(d) webhook receiver": (lambda *a: by_webhook(*a, receiver), jobs)}
    rows, added_p50 = [], {}
    by_waiting(http, service.base, image)  # warm-up: the first job of a worker pays one-off imports
    for name, (way, count) in ways.items():
        made, added, ran = [], [], []
        for _ in range(count):
            requests_made, knew_at, job = way(http, service.base, image)
            assert job["status"] == "done", job
            made.append(requests_made)
            added.append((knew_at - _finished_at(job)) * 1000)
            ran.append(_run_seconds(job) * 1000)
        added_p50[name] = statistics.median(added)
        rows.append(Row(SECTION, f"{name}: requests per job", statistics.mean(made), "requests",
                        f"n={count}; goal (b)–(d) ≤ 2"))
        rows.append(Row(SECTION, f"{name}: finished → client knows, p50", added_p50[name], "ms",
                        f"max {max(added):.1f} ms; the job itself ran p50 {statistics.median(ran):.0f} ms"))
    worst = max(value for name, value in added_p50.items() if not name.startswith("(a)"))
    rows.append(Row(SECTION, "wait_added_ms", worst, "ms", f"the worst p50 of (b)–(d); goal ≤ 20 ms: "
                                                           f"{goal(worst <= 20)}"))
    receiver.server.shutdown()
    return rows, {"wait_added_ms": worst}
