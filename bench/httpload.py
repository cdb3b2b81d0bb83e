"""A small closed-loop HTTP/1.1 load generator: asyncio, raw keep-alive sockets, one event loop.

Far cheaper per request than requests/urllib3, so on a small machine the server, not the client, is what runs
out of CPU (its own CPU use is reported, to check that).
"""
from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class LoadResult:
    requests: int
    seconds: float
    statuses: dict[int, int]
    latency_p50_ms: float
    client_cpu_share: float  # client CPU seconds per wall second (1.0 = one core busy)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One HTTP/1.1 response with a Content-Length body: (status, body)."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = None
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length is None:
        raise RuntimeError(f"response without Content-Length: {head[:200]!r}")
    return int(head[9:12]), await reader.readexactly(length)


async def _one_connection(host: str, port: int, request: bytes, start: float, stop: float,
                          latencies: list[float], statuses: dict[int, int]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while True:
            sent = time.perf_counter()
            if sent >= stop:
                return
            writer.write(request)
            status, _body = await read_response(reader)
            done = time.perf_counter()
            if sent >= start:  # count only requests sent after the warm-up
                statuses[status] = statuses.get(status, 0) + 1
                latencies.append((done - sent) * 1000)
    finally:
        writer.close()


async def _run(host, port, request, connections, warmup, seconds):
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    now = time.perf_counter()
    start, stop = now + warmup, now + warmup + seconds
    await asyncio.gather(*(_one_connection(host, port, request, start, stop, latencies, statuses)
                           for _ in range(connections)))
    return latencies, statuses


def load(host: str, port: int, path: str, headers: dict[str, str] | None = None, connections: int = 8,
         seconds: float = 3.0, warmup: float = 0.5) -> LoadResult:
    """GET path over `connections` keep-alive connections for `seconds` (after `warmup`)."""
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}"] + [f"{k}: {v}" for k, v in (headers or {}).items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    cpu = time.process_time()
    wall = time.perf_counter()
    latencies, statuses = asyncio.run(_run(host, port, request, connections, warmup, seconds))
    share = (time.process_time() - cpu) / (time.perf_counter() - wall)
    return LoadResult(len(latencies), seconds, statuses, statistics.median(latencies) if latencies else 0.0, share)
