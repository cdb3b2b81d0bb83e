"""What the figures were measured on: CPU, cores, RAM, GPU, library versions, date, load."""
from __future__ import annotations

import os
import platform
import subprocess
from datetime import datetime, timezone


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_gib() -> float | None:
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return None


def _gpu() -> str:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10)
        if out.returncode == 0 and out.stdout.strip():
            return "; ".join(line.strip() for line in out.stdout.strip().splitlines())
    except (OSError, subprocess.SubprocessError):
        pass
    return "none"


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    parts = []
    for name in ("torch", "pillow", "opencv-python-headless", "rq", "redis", "spandrel", "diffusers"):
        try:
            parts.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            parts.append(f"{name} missing")
    return ", ".join(parts)


def describe() -> list[str]:
    """Lines describing this machine and run, for the top of the table."""
    cores = os.cpu_count() or 0
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    ram = _ram_gib()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return [
        f"date: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"cpu: {_cpu_model()}, {cores} logical cores ({usable} usable)",
        f"ram: {ram:.1f} GiB" if ram else "ram: unknown",
        f"gpu: {_gpu()}",
        f"python {platform.python_version()} on {platform.system()} {platform.release()}",
        f"versions: {_versions()}",
        f"load average at start (1/5/15 min): {load}",
    ]
