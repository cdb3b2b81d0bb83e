"""`python -m bench.first_job [--quick]`: the first job of an installed model after the service starts, against the
same job once warm (goal: first <= warm + 2 s).

remove-background of the 512 x 512 astronaut through `pixelforge serve`, with the real U^2-Net installed (fetched once,
as the slow tests do; a one-layer stand-in with its signature when it cannot be had). Times are submit -> done from
the jobs' own timestamps; each job is submitted once the worker's log says it is warm.
1. first start of a fresh instance: the worker compiles pymatting's numba functions (rembg imports them) into
   <instance>/cache/numba and loads the model before it takes jobs; then the first job and WARM_JOBS more;
2. a restart on the same instance: the warm-up reads the numba cache; the first job and WARM_JOBS more again;
3. for comparison, what a first job cost without the warm-up: the model added with `models add` after the start
   (numba's cache already filled, so this is the load and first run alone).
--quick skips 1 and 3 and reuses a numba cache kept in ~/.cache/pixelforge/numba.
"""
from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

import requests
from PIL import Image

from bench.service import BenchService, tests_module
from bench.table import Row, goal, render

SECTION = "8 first job"
WARM_JOBS = 3
GOAL_EXTRA_S = 2.0
WARM_LOG_LINE = "worker warm"


def _weights() -> tuple[Path, str]:
    """The real U^2-Net, else a stand-in with its signature; (path, what it is)."""
    real_weights = tests_module("real_weights")
    path, why = real_weights.fetched_file("rembg-u2net")
    if path is not None:
        return path, "real U²-Net"
    stand_in = real_weights.cache_dir() / "stand-in" / "u2net.onnx"
    if not stand_in.exists():
        tests_module("model_factories").write_u2net_like_onnx(stand_in)
    return stand_in, f"one-layer stand-in ({why})"


def _astronaut_png() -> bytes:
    from skimage import data

    buffer = io.BytesIO()
    Image.fromarray(data.astronaut()).save(buffer, "PNG")
    return buffer.getvalue()


def _wait_warm(service: BenchService, timeout: float = 900.0) -> float:
    """Seconds the worker's warm-up took, from its log line (each start of the service writes a new log)."""
    log = service.live.wait_for_log(WARM_LOG_LINE, timeout)
    line = next(line for line in log.splitlines() if WARM_LOG_LINE in line)
    words = line.split(WARM_LOG_LINE, 1)[1].split()
    return float(words[1]) if len(words) > 1 and words[0] == "in" else 0.0


def _job_seconds(service: BenchService, image: bytes, timeout: float = 900.0) -> float:
    """Submit remove-background and wait; submit -> done in seconds from the job's own timestamps."""
    http = service.session()
    response = http.post(f"{service.base}/api/v1/remove-background", files={"image": ("a.png", image)}, timeout=60)
    response.raise_for_status()
    url = f"{service.base}/api/v1/jobs/{response.json()['job_id']}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = http.get(url, timeout=30).json()
        if body["status"] in ("done", "failed", "cancelled"):
            if body["status"] != "done" or body.get("model") != "rembg-u2net":
                raise RuntimeError(f"job ended {body['status']} on {body.get('model')}: {body.get('error')}")
            created, finished = (datetime.fromisoformat(body[k]) for k in ("created_at", "finished_at"))
            return (finished - created).total_seconds()
        time.sleep(0.05)
    raise TimeoutError("the job did not finish")


def _first_and_warm(service: BenchService, image: bytes) -> tuple[float, float]:
    first = _job_seconds(service, image)
    return first, statistics.median(_job_seconds(service, image) for _ in range(WARM_JOBS))


def _rows(label: str, warm_up: float | None, first: float, warm: float) -> list[Row]:
    extra = first - warm
    rows = [] if warm_up is None else [Row(SECTION, f"{label}: worker warm-up", warm_up, "s",
                                           "before it takes jobs; submissions queue meanwhile")]
    return rows + [Row(SECTION, f"{label}: first job", first, "s", f"warm job (median of {WARM_JOBS}) {warm:.2f} s"),
                   Row(SECTION, f"{label}: first − warm", extra, "s", goal(extra <= GOAL_EXTRA_S))]


def _measure(service: BenchService, label: str, image: bytes, warm_up: float | None) -> tuple[list[Row], float]:
    first, warm = _first_and_warm(service, image)
    return _rows(label, warm_up, first, warm), first - warm


def _restart(service: BenchService) -> float:
    """Stop and start the service on the same instance; the new worker's warm-up seconds."""
    service.live.stop()
    service.live.start()
    return _wait_warm(service)


def run(quick: bool) -> tuple[list[Row], dict]:
    """Cases 1-3 (see the module's docstring) on one instance; rows and {"first_job_extra_s": the largest
    first − warm of the warm-started cases}."""
    weights, what = _weights()
    image = _astronaut_png()
    rows = [Row(SECTION, "model", what, "", str(weights))]
    service = BenchService()
    real_weights = tests_module("real_weights")
    installed = real_weights.install(weights, "rembg-u2net", service.instance / "models")
    service.live.env.pop("NUMBA_CACHE_DIR", None)  # the worker's default: <instance>/cache/numba
    if quick:
        service.live.env["NUMBA_CACHE_DIR"] = str(real_weights.cache_dir().parent / "numba")
    extras = []
    try:
        service.start()
        case_rows, extra = _measure(service, "start" if quick else "first start (numba compiles)", image,
                                    _wait_warm(service))
        rows, extras = rows + case_rows, extras + [extra]
        if quick:
            return rows, {"first_job_extra_s": max(extras)}
        case_rows, extra = _measure(service, "restart (numba cache in the instance)", image, _restart(service))
        rows, extras = rows + case_rows, extras + [extra]
        numba_files = list((service.instance / "cache" / "numba").rglob("*.nbi"))
        rows.append(Row(SECTION, "numba cache index files in <instance>/cache/numba", float(len(numba_files)), "",
                        "pymatting's compiled functions, kept with the instance"))
        installed.unlink()  # case 3: nothing to warm at the start, the model arrives afterwards
        _restart(service)
        service.live.cli("models", "add", "rembg-u2net", str(weights), "--allow-unverified")
        case_rows, _ = _measure(service, "without warm-up (model added after start, as before #18)", image, None)
        rows += case_rows
    finally:
        service.stop()
    return rows, {"first_job_extra_s": max(extras)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.first_job", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one start, numba's cache reused")
    args = parser.parse_args(argv)
    rows, figures = run(args.quick)
    print(render(rows))
    print()
    print(f"first_job_extra_s={figures['first_job_extra_s']:.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
