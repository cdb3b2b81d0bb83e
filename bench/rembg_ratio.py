"""`python -m bench.rembg_ratio [--quick]`: remove-background through `pixelforge serve` against rembg's own server
(`rembg s`) on the same U^2-Net file and the same photos, both warm, requests alternating in one run.

Time is submit -> result bytes in hand, on the client's clock. Ours: one POST with `Prefer: wait` (the answer comes
when the job is final) and one GET of the download; rembg's: one POST to /api/remove. Each photo's median over the
rounds, summed over the photos: rembg_ratio = ours / rembg's (goal <= 0.8). The results are compared pixel for pixel.
Then U^2-Net alone on the other runtimes at hand (bench/u2net_runtimes.py): faster, and at what cost to the alpha.
Without the real U^2-Net (a stand-in would not be the same work) the section says why and rembg_ratio is n/a.
"""
from __future__ import annotations

import argparse
import io
import math
import os
import socket
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import requests
from PIL import Image

from bench.fidelity_photos import photo
from bench.service import BenchService, tests_module
from bench.table import Row, goal, render

SECTION = "9 rembg s"
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "motorcycle")
GOAL_RATIO = 0.8


def _real_u2net() -> tuple[Path | None, str]:
    return tests_module("real_weights").fetched_file("rembg-u2net")


def missing_server_packages() -> list[str]:
    """The packages of rembg's `cli` extra (what `rembg s` imports) that are not installed: the test install
    (`pip install -e '.[test]'`) has them, the service's (`.[all]`) does not."""
    import importlib.metadata
    import re

    missing = []
    for requirement in importlib.metadata.requires("rembg") or []:
        if re.search(r"""extra\s*==\s*["']cli["']""", requirement):
            name = re.match(r"[A-Za-z0-9._-]+", requirement).group(0)
            try:
                importlib.metadata.distribution(name)
            except importlib.metadata.PackageNotFoundError:
                missing.append(name)
    return missing


def _png(name: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(photo(name)).save(buffer, "PNG")
    return buffer.getvalue()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RembgServer:
    """`rembg s` on loopback, its model folder holding only our u2net.onnx (so it downloads nothing)."""

    def __init__(self, weights: Path, folder: Path):
        self.home = folder / "u2net-home"
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "u2net.onnx").symlink_to(weights)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/api/remove"
        self.log = open(folder / "rembg-s.log", "wb")
        rembg = Path(sys.executable).with_name("rembg")
        env = {**os.environ, "U2NET_HOME": str(self.home), "BROWSER": "true"}  # no browser tab opened
        self.process = subprocess.Popen([str(rembg), "s", "--host", "127.0.0.1", "--port", str(self.port),
                                         "--no-ui", "--log_level", "warning"],
                                        env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def wait_up(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"rembg s exited: {Path(self.log.name).read_text(errors='replace')[-1500:]}")
            try:
                requests.get(f"http://127.0.0.1:{self.port}/api", timeout=2)
                return
            except requests.ConnectionError:
                time.sleep(0.3)
        raise TimeoutError("rembg s did not answer")

    def remove(self, http: requests.Session, image: bytes) -> bytes:
        response = http.post(self.url, files={"file": ("photo.png", image, "image/png")},
                             data={"model": "u2net"}, timeout=300)
        response.raise_for_status()
        return response.content

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def _ours(service: BenchService, http: requests.Session, image: bytes, jobs: list | None = None) -> bytes:
    """Submit with Prefer: wait, then download: the result's bytes (the finished job appended to jobs)."""
    response = http.post(f"{service.base}/api/v1/remove-background", files={"image": ("photo.png", image)},
                         headers={"Prefer": "wait=60"}, timeout=120)
    response.raise_for_status()
    job = response.json()
    if job.get("status") != "done" or job.get("model") != "rembg-u2net":
        raise RuntimeError(f"job {job.get('status')} on {job.get('model')}: {job.get('error')}")
    result = http.get(job["result_url"], timeout=60)
    result.raise_for_status()
    if jobs is not None:
        jobs.append(job)
    return result.content


def _job_seconds(job: dict) -> tuple[float, float]:
    """(queued -> started, started -> finished) from the job's own timestamps."""
    created, started, finished = (datetime.fromisoformat(job[k]) for k in ("created_at", "started_at", "finished_at"))
    return (started - created).total_seconds(), (finished - started).total_seconds()


def _timed(call) -> tuple[float, bytes]:
    started = time.perf_counter()
    content = call()
    return time.perf_counter() - started, content


def _same_pixels(a: bytes, b: bytes) -> bool:
    first, second = (np.asarray(Image.open(io.BytesIO(x)).convert("RGBA")) for x in (a, b))
    return first.shape == second.shape and bool(np.array_equal(first, second))


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and everything below it, so far."""
    import psutil

    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def _measure(service: BenchService, theirs: RembgServer, rounds: int) -> dict[str, dict]:
    """Per photo: ours and theirs (seconds, one per round, alternating who goes first), whether the pixels match;
    and under "cpu", each side's CPU seconds over the timed rounds (ours: the whole `serve` tree)."""
    images = {name: _png(name) for name in PHOTOS}
    ours_http, their_http = service.session(), requests.Session()
    for image in images.values():  # warm both: sessions loaded, numba compiled, connections open
        _ours(service, ours_http, image)
        theirs.remove(their_http, image)
    figures = {name: {"ours": [], "theirs": [], "same": True, "bytes": (0, 0), "job": []} for name in PHOTOS}
    cpu_before = (_cpu_seconds(service.live.process.pid), _cpu_seconds(theirs.process.pid))
    for turn in range(rounds):
        for name, image in images.items():
            jobs: list[dict] = []
            calls = [("ours", lambda: _ours(service, ours_http, image, jobs)),
                     ("theirs", lambda: theirs.remove(their_http, image))]
            results = {}
            for who, call in calls if turn % 2 == 0 else calls[::-1]:
                seconds, results[who] = _timed(call)
                figures[name][who].append(seconds)
            figures[name]["job"].append(_job_seconds(jobs[0]))
            figures[name]["same"] &= _same_pixels(results["ours"], results["theirs"])
            figures[name]["bytes"] = (len(results["ours"]), len(results["theirs"]))
    cpu_after = (_cpu_seconds(service.live.process.pid), _cpu_seconds(theirs.process.pid))
    return {"photos": figures, "cpu": [after - before for before, after in zip(cpu_before, cpu_after)]}


def _rows(measured: dict, rounds: int) -> tuple[list[Row], float]:
    rows, ours_total, theirs_total = [], 0.0, 0.0
    for name, f in measured["photos"].items():
        ours, theirs = statistics.median(f["ours"]), statistics.median(f["theirs"])
        ours_total, theirs_total = ours_total + ours, theirs_total + theirs
        width, height = Image.fromarray(photo(name)).size
        queued, ran = (statistics.median(times) for times in zip(*f["job"]))
        rows.append(Row(SECTION, f"{name} {width}×{height}: ours / rembg s", ours / theirs, "×",
                        f"ours {ours * 1000:.0f} ms (queued {queued * 1000:.0f}, ran {ran * 1000:.0f}), rembg s "
                        f"{theirs * 1000:.0f} ms (median of {rounds}); "
                        f"pixels {'identical' if f['same'] else 'DIFFER'}; PNG {f['bytes'][0] // 1024} vs "
                        f"{f['bytes'][1] // 1024} KiB"))
    ratio = ours_total / theirs_total
    rows.append(Row(SECTION, "all photos: ours / rembg s (rembg_ratio)", ratio, "×",
                    f"sum of medians {ours_total:.2f} s vs {theirs_total:.2f} s; "
                    f"goal ≤ {GOAL_RATIO}: {goal(ratio <= GOAL_RATIO)}"))
    requests_made = rounds * len(measured["photos"])
    ours_cpu, their_cpu = (seconds / requests_made for seconds in measured["cpu"])
    rows.append(Row(SECTION, "CPU seconds per photo: ours / rembg s", ours_cpu / their_cpu, "×",
                    f"ours {ours_cpu:.2f} s (every process of `serve`, idle upkeep included), rembg s "
                    f"{their_cpu:.2f} s; the load of other programs does not count here"))
    return rows, ratio


def run(quick: bool) -> tuple[list[Row], dict]:
    """Rows and {"rembg_ratio": ours ÷ rembg s, NaN when the real U^2-Net cannot be had}."""
    weights, why = _real_u2net()
    if weights is None:
        return [Row(SECTION, "rembg_ratio", "n/a", "", f"no real U²-Net: {why}")], {"rembg_ratio": math.nan}
    missing = missing_server_packages()
    if missing:
        why = (f"`rembg s` cannot start: rembg's server needs {', '.join(missing)} (rembg[cli]); "
               "the test install has them: pip install -e '.[test]'")
        return [Row(SECTION, "rembg_ratio", "n/a", "", why)], {"rembg_ratio": math.nan}
    rounds = 3 if quick else 7
    service = BenchService()
    real_weights = tests_module("real_weights")
    real_weights.install(weights, "rembg-u2net", service.instance / "models")
    service.live.env["NUMBA_CACHE_DIR"] = str(real_weights.cache_dir().parent / "numba")  # compiled once per host
    theirs = RembgServer(weights, service.folder)
    try:
        service.start()
        theirs.wait_up()
        rows, ratio = _rows(_measure(service, theirs, rounds), rounds)
    finally:
        theirs.stop()
        service.stop()
    from bench import u2net_runtimes

    print(f"[bench] {SECTION}: U²-Net on other runtimes…", file=sys.stderr, flush=True)
    photos = {name: Image.fromarray(photo(name)) for name in PHOTOS}
    rows += u2net_runtimes.rows(SECTION, weights, photos, rounds=2 if quick else 3)
    return rows, {"rembg_ratio": ratio}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.rembg_ratio", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds instead of 7")
    args = parser.parse_args(argv)
    rows, figures = run(args.quick)
    print(render(rows))
    print()
    ratio = figures["rembg_ratio"]
    print(f"rembg_ratio={'n/a' if math.isnan(ratio) else format(ratio, '.3g')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
