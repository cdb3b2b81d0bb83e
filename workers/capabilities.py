"""What this worker can run, published with its heartbeat so the web tier admits and routes jobs by it: device,
GPU memory, installed models (with SHA-256 of single-file weights) and the queues it listens on."""
from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

from pixelforge.model_registry import REGISTRY, file_digests, installed_models, weights_file

QUEUE_CHOICES = ("all", "models", "general")
_digest_cache: dict[tuple[str, int, int], str] = {}


def listen_queues(base: str, models: list[str], choice: str = "all") -> list[str]:
    """Model queues first (RQ takes from the first queue that has a job), then the general one.
    choice: "models" dedicates the host to model jobs, "general" to classical ones."""
    from pixelforge.queue import model_queue_name

    model_queues = [model_queue_name(base, name) for name in models]
    if choice == "models":
        return model_queues
    if choice == "general":
        return [base]
    return [*model_queues, base]


def _digest(name: str, models_dir: Path) -> str | None:
    """SHA-256 of a single-file model, hashed once per file version; None for folder models."""
    entry = REGISTRY.get(name)
    if len(entry.files) != 1 or entry.hub is not None:
        return None
    path = weights_file(name, models_dir)
    try:
        stat = path.stat()
    except OSError:
        return None
    key = (str(path), stat.st_size, int(stat.st_mtime))
    if key not in _digest_cache:
        _digest_cache[key] = file_digests(path)[0]
    return _digest_cache[key]


def _gpu_memory() -> dict | None:
    torch = sys.modules.get("torch")  # never import torch just to report: a CPU host may not have it loaded
    if torch is None or not torch.cuda.is_available():
        return None
    free, total = torch.cuda.mem_get_info()
    return {"free_bytes": int(free), "total_bytes": int(total), "name": torch.cuda.get_device_name()}


def describe(models_dir: Path, device: str, queues: list[str], started_at: float,
             with_digests: bool = True) -> dict:
    """The JSON this worker publishes (queue.publish_worker_info)."""
    models = installed_models(models_dir)
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "device": device,
        "gpu": _gpu_memory(),
        "models": {name: (_digest(name, Path(models_dir)) if with_digests else None) for name in models},
        "queues": queues,
        "started_at": started_at,
        "seen_at": time.time(),
    }
