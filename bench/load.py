"""A bounded load test on loopback: many concurrent pollers plus steady submissions against the real service.

    python -m bench.load                    # 200 pollers, 4 submissions/s, 3 minutes
    python -m bench.load --seconds 30       # shorter

Pollers behave like the seed's client: GET /api/v1/jobs/<id> of a recent job, then wait `--think` seconds.
It reports every status seen, the 5xx count (the goal is zero) and latency percentiles of the non-model
requests, and exits non-zero if any 5xx appeared. Traffic goes to 127.0.0.1 only and stops by itself.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from dataclasses import dataclass, field

from bench.httpload import read_response
from bench.machine import describe
from bench.service import BenchService, png_bytes

BOUNDARY = "pixelforgeloadboundary"


@dataclass
class Tally:
    statuses: dict[str, dict[int, int]] = field(default_factory=dict)
    latencies: dict[str, list[float]] = field(default_factory=dict)
    job_ids: list[str] = field(default_factory=list)
    errors: int = 0

    def record(self, kind: str, status: int, millis: float) -> None:
        counts = self.statuses.setdefault(kind, {})
        counts[status] = counts.get(status, 0) + 1
        self.latencies.setdefault(kind, []).append(millis)


def _request(method: str, path: str, host: str, key: str, body: bytes = b"", content_type: str = "") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"Authorization: Bearer {key}"]
    if body:
        lines += [f"Content-Type: {content_type}", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _multipart_image(image: bytes) -> bytes:
    return (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n"
            f"Content-Type: image/png\r\n\r\n").encode() + image + f"\r\n--{BOUNDARY}--\r\n".encode()


async def _submitter(host, port, key, rate: float, stop: float, tally: Tally) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    body = _multipart_image(png_bytes(16, 16))
    request = _request("POST", "/api/v1/enhance", f"{host}:{port}", key, body,
                       f"multipart/form-data; boundary={BOUNDARY}")
    try:
        while time.perf_counter() < stop:
            sent = time.perf_counter()
            writer.write(request)
            status, reply = await read_response(reader)
            tally.record("submit", status, (time.perf_counter() - sent) * 1000)
            if status == 202:
                tally.job_ids.append(json.loads(reply)["job_id"])
            await asyncio.sleep(max(0.0, 1 / rate - (time.perf_counter() - sent)))
    finally:
        writer.close()


async def _poller(host, port, key, think: float, stop: float, tally: Tally) -> None:
    await asyncio.sleep(random.uniform(0, think))  # spread the pollers out
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < stop:
            recent = tally.job_ids[-50:]
            path = f"/api/v1/jobs/{random.choice(recent)}" if recent else "/api/v1/account"
            sent = time.perf_counter()
            writer.write(_request("GET", path, f"{host}:{port}", key))
            status, _ = await read_response(reader)
            tally.record("poll", status, (time.perf_counter() - sent) * 1000)
            await asyncio.sleep(think)
    except (ConnectionError, asyncio.IncompleteReadError):
        tally.errors += 1
    finally:
        writer.close()


async def _run(host, port, key, pollers, think, rate, seconds) -> Tally:
    tally = Tally()
    stop = time.perf_counter() + seconds
    await asyncio.gather(_submitter(host, port, key, rate, stop, tally),
                         *(_poller(host, port, key, think, stop, tally) for _ in range(pollers)))
    return tally


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pollers", type=int, default=200)
    parser.add_argument("--think", type=float, default=1.0, help="seconds each poller waits between polls")
    parser.add_argument("--rate", type=float, default=4.0, help="submissions per second")
    parser.add_argument("--seconds", type=float, default=180.0)
    args = parser.parse_args(argv)

    with BenchService() as service:
        host, port = "127.0.0.1", service.live.port
        tally = asyncio.run(_run(host, port, service.key, args.pollers, args.think, args.rate, args.seconds))
        finished = sum(1 for job_id in tally.job_ids[-20:]
                       if service.session().get(f"{service.base}/api/v1/jobs/{job_id}").json()["status"] == "done")

    print("\n".join(describe()))
    print(f"\n{args.pollers} pollers (think {args.think} s), {args.rate} submissions/s, {args.seconds:.0f} s\n")
    print("| requests | count | statuses | p50 ms | p95 ms | p99 ms |\n|---|---|---|---|---|---|")
    server_errors = 0
    for kind in ("poll", "submit"):
        counts, latencies = tally.statuses.get(kind, {}), tally.latencies.get(kind, [])
        server_errors += sum(n for status, n in counts.items() if status >= 500)
        print(f"| {kind} | {len(latencies)} | {dict(sorted(counts.items()))} | {_percentile(latencies, 0.5):.1f} | "
              f"{_percentile(latencies, 0.95):.1f} | {_percentile(latencies, 0.99):.1f} |")
    print(f"\nconnection errors: {tally.errors}; 5xx: {server_errors}; "
          f"of the last 20 accepted jobs, {finished} were done when the load stopped")
    return 1 if server_errors or tally.errors else 0


if __name__ == "__main__":
    sys.exit(main())
