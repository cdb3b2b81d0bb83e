"""Web-process memory under large uploads: parallel 6300×6300 lossless WebP submissions (about 1.5 KB each;
Pillow needs about 600 MB to decode one), from a key with 0 credits and from a key with credits.

    python -m bench.web_memory                  # 12 in parallel, both cases
    python -m bench.web_memory --parallel 4     # fewer at once

It starts the real service (`pixelforge serve` on 127.0.0.1), finds its web process (the gunicorn worker), warms
every import on the submission path with one small WebP, and then, for each case: resets the process's peak
resident set (VmHWM, through /proc/<pid>/clear_refs), sends the uploads at once, reads the peak, and reads the
resident set again after 3 s of quiet. Goal (#12 finding 4): peak growth < 300 MB in both cases, and back within
50 MB of where it started. In the case with credits the job worker is paused (SIGSTOP) while the jobs are queued
(REQUIRE_LIVE_WORKER is off, so a paused worker is no 503); they are then cancelled (refunded) and the worker
resumes, so it does not spend minutes on 40 MP images. Last, the paying user's jobs page is loaded twice as a
browser loads it (the page, then its thumbnails six at a time): the first view makes the thumbnails, the second
serves the stored ones. Before the uploads it also reads how much CPU the web process spends over 10 idle seconds,
from 3 s after a first job's end (goal: at most 1 % of a core).
"""
from __future__ import annotations

import argparse
import io
import os
import signal
import sys
import threading
import time
from pathlib import Path

import requests
from PIL import Image

from bench.machine import describe
from bench.service import BenchService
from bench.table import Row, goal, render

EDGE = 6300  # 39.7 MP: under MAX_INPUT_PIXELS
GOAL_GROWTH_MB = 300
GOAL_SETTLED_MB = 50
QUIET_SECONDS = 3.0
IDLE_SECONDS = 10.0  # from QUIET_SECONDS after the warm-up job's end, for the idle CPU figure
GOAL_IDLE_PERCENT = 1.0  # of one core (Gradio's queue alone, polling every 1 ms, took 4.7 %: ui/queue_timing.py)


def lossless_webp(edge: int, colour=(200, 30, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (edge, edge), colour).save(buffer, format="WEBP", lossless=True)
    return buffer.getvalue()


def _status_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


def _reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


def web_worker_pid(serve_pid: int) -> int:
    """The gunicorn worker (a child of the gunicorn master, itself a child of `serve`): where requests run."""
    for child in _children(serve_pid):
        if b"gunicorn" in Path(f"/proc/{child}/cmdline").read_bytes():
            workers = _children(child)
            if workers:
                return workers[0]
    raise RuntimeError("no gunicorn worker found under the service")


PASSWORD = "bench-password-1"


def idle_cpu_share(pid: int, seconds: float | None = None) -> float:
    """CPU-seconds per second the process spends while nobody calls it."""
    import psutil

    process = psutil.Process(pid)
    before = sum(process.cpu_times()[:2])
    time.sleep(seconds or IDLE_SECONDS)
    return (sum(process.cpu_times()[:2]) - before) / (seconds or IDLE_SECONDS)


def _make_caller(service: BenchService, email: str, credits: int) -> str:
    with service.app().app_context():
        from pixelforge.accounts import create_user
        from pixelforge.keys import create_key

        return create_key(create_user(email, "pro", credits, password=PASSWORD)).secret


def _signed_in(base: str, email: str) -> requests.Session:
    browser = requests.Session()
    page = browser.get(f"{base}/login", timeout=30).text
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    browser.post(f"{base}/login", data={"csrf_token": token, "email": email, "password": PASSWORD},
                 timeout=30).raise_for_status()
    return browser


def measure_jobs_page(base: str, pid: int, browser: requests.Session, loads_at_once: int = 6) -> dict:
    """The jobs page and its thumbnails, fetched as a browser does (several at once)."""
    time.sleep(QUIET_SECONDS)
    before = _status_mb(pid, "VmRSS")
    _reset_peak(pid)
    started = time.monotonic()
    page = browser.get(f"{base}/dashboard/jobs", timeout=60).text
    urls = sorted({part.split('"', 1)[0].replace("&amp;", "&") for part in page.split('src="')[1:]
                   if "/thumbnail" in part.split('"', 1)[0]})
    statuses: dict[int, int] = {}
    lock = threading.Lock()

    def fetch(chunk):
        for url in chunk:
            status = browser.get(f"{base}{url}", timeout=120).status_code
            with lock:
                statuses[status] = statuses.get(status, 0) + 1

    threads = [threading.Thread(target=fetch, args=(urls[i::loads_at_once],)) for i in range(loads_at_once)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.monotonic() - started
    peak = _status_mb(pid, "VmHWM")
    time.sleep(QUIET_SECONDS)
    return {"before": before, "growth": peak - before, "settled": _status_mb(pid, "VmRSS") - before,
            "seconds": seconds, "statuses": dict(sorted(statuses.items())), "job_ids": []}


def _burst(base: str, key: str, upload: bytes, parallel: int) -> list[requests.Response]:
    responses: list[requests.Response] = []
    lock = threading.Lock()

    def send():
        response = requests.post(f"{base}/api/v1/enhance", headers={"Authorization": f"Bearer {key}"},
                                 files={"image": ("big.webp", upload, "image/webp")}, timeout=120)
        with lock:
            responses.append(response)

    threads = [threading.Thread(target=send) for _ in range(parallel)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return responses


def measure(service: BenchService, pid: int, key: str, upload: bytes, parallel: int) -> dict:
    """Peak growth and settled growth of the web process's resident set around one burst."""
    time.sleep(QUIET_SECONDS)
    before = _status_mb(pid, "VmRSS")
    _reset_peak(pid)
    started = time.monotonic()
    responses = _burst(service.base, key, upload, parallel)
    seconds = time.monotonic() - started
    peak = _status_mb(pid, "VmHWM")
    time.sleep(QUIET_SECONDS)
    after = _status_mb(pid, "VmRSS")
    statuses: dict[int, int] = {}
    for response in responses:
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
    job_ids = [r.json()["job_id"] for r in responses if r.status_code == 202]
    return {"before": before, "growth": peak - before, "settled": after - before, "seconds": seconds,
            "statuses": dict(sorted(statuses.items())), "job_ids": job_ids}


def _rows(case: str, figures: dict, parallel: int) -> list[Row]:
    detail = (f"{parallel} at once, answered {figures['statuses']} in {figures['seconds']:.1f} s; "
              f"started at {figures['before']:.0f} MB")
    return [
        Row("web memory", f"{case}: peak growth", figures["growth"], "MB",
            f"{detail}; {goal(figures['growth'] < GOAL_GROWTH_MB)} (< {GOAL_GROWTH_MB} MB)"),
        Row("web memory", f"{case}: {QUIET_SECONDS:.0f} s after", figures["settled"], "MB",
            f"{goal(figures['settled'] < GOAL_SETTLED_MB)} (< {GOAL_SETTLED_MB} MB above the start)"),
    ]


def run(parallel: int, edge: int) -> tuple[list[Row], dict[str, float]]:
    upload = lossless_webp(edge)
    rows: list[Row] = []
    service = BenchService()
    service.live.env["PIXELFORGE_REQUIRE_LIVE_WORKER"] = "false"  # the worker is paused during the paid burst
    with service:
        pid = web_worker_pid(service.live.process.pid)
        broke, paying = _make_caller(service, "broke@example.com", 0), _make_caller(service, "pays@example.com", 10**6)
        warm = requests.post(f"{service.base}/api/v1/enhance",
                             headers={"Authorization": f"Bearer {paying}", "Prefer": "wait=30"},
                             files={"image": ("small.webp", lossless_webp(64), "image/webp")}, timeout=60)
        warm.raise_for_status()
        time.sleep(QUIET_SECONDS)  # the job's end still reaches the web (its events) for a moment: not idle yet
        idle_share = idle_cpu_share(pid)
        without = measure(service, pid, broke, upload, parallel)
        workers = service.worker_pids()
        for worker in workers:
            os.kill(worker, signal.SIGSTOP)
        try:
            paid = measure(service, pid, paying, upload, parallel)
            for job_id in paid["job_ids"]:
                requests.post(f"{service.base}/api/v1/jobs/{job_id}/cancel",
                              headers={"Authorization": f"Bearer {paying}"}, timeout=30)
        finally:
            for worker in workers:
                os.kill(worker, signal.SIGCONT)
        browser = _signed_in(service.base, "pays@example.com")
        first_view = measure_jobs_page(service.base, pid, browser)
        second_view = measure_jobs_page(service.base, pid, browser)
    rows.append(Row("web memory", f"idle web process (playground mounted), over {IDLE_SECONDS:.0f} s",
                    idle_share * 100, "% of a core",
                    f"{goal(idle_share * 100 <= GOAL_IDLE_PERCENT)} (≤ {GOAL_IDLE_PERCENT} %; 4.7 % while Gradio's "
                    f"queue polled every 1 ms)"))
    rows += _rows(f"{edge}² lossless WebP, 0 credits", without, parallel)
    rows += _rows(f"{edge}² lossless WebP, with credits", paid, parallel)
    rows += _rows("jobs page, first view (thumbnails made)", first_view, 6)
    rows += _rows("jobs page, second view (thumbnails stored)", second_view, 6)
    summary = {"web_idle_cpu_percent": idle_share * 100,
               "web_growth_0_credits_mb": without["growth"], "web_growth_with_credits_mb": paid["growth"],
               "web_growth_jobs_page_mb": max(first_view["growth"], second_view["growth"]),
               "web_settled_mb": max(case["settled"] for case in (without, paid, first_view, second_view))}
    return rows, summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.web_memory", description=__doc__.splitlines()[0])
    parser.add_argument("--parallel", type=int, default=12, help="uploads sent at once (12)")
    parser.add_argument("--edge", type=int, default=EDGE, help=f"the square image's edge in pixels ({EDGE})")
    args = parser.parse_args(argv)
    started = time.monotonic()
    rows, summary = run(args.parallel, args.edge)
    print("PixelForge web memory under large uploads")
    print("\n".join(describe()))
    print(f"wall time: {time.monotonic() - started:.0f} s")
    print()
    print(render(rows))
    print()
    print(" ".join(f"{name}={value:.3g}" for name, value in summary.items()))
    growths = ("web_growth_0_credits_mb", "web_growth_with_credits_mb", "web_growth_jobs_page_mb")
    return 0 if all(summary[name] < GOAL_GROWTH_MB for name in growths) else 1


if __name__ == "__main__":
    sys.exit(main())
