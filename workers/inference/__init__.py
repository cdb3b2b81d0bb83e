"""Model engines: pick the installed model for an operation, load it once per worker process, run it.

Importing this package is cheap (no torch, diffusers or rembg): the engines import those when they first
run, and each model is loaded on first use (a worker does that at start, see workers/warmup.py) and kept warm
in this process (the worker does not fork per job). When no model is installed for an operation, ``run_model_engine`` returns None and the caller
runs the classical engine instead.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any, Callable, TypeVar

from pixelforge.operations import OPERATIONS
from workers.engines.base import EngineError, EngineInput, EngineOutput, EngineUnavailable, load_function
from pixelforge.model_registry import REGISTRY, installed_model_for

log = logging.getLogger(__name__)
T = TypeVar("T")

_cache: dict[tuple[str, str, str], tuple[tuple, Any]] = {}  # key -> (files' stamp when loaded, model)
_cache_lock = threading.Lock()
_load_locks: dict[tuple[str, str, str], threading.Lock] = {}


def _files_stamp(folder: Path) -> tuple:
    """Names, sizes and mtimes of a model's files: changes when `models add` replaces them."""
    try:
        return tuple(sorted((str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns)
                            for p in folder.rglob("*") if p.is_file()))
    except OSError:
        return ()


def warm_model(name: str, models_dir: Path, kind: str, load: Callable[[Path], T]) -> T:
    """The loaded model ``name`` (loading it with ``load(<models_dir>/<name>)`` on first use), kept for the
    life of this process and reloaded only if its files change on disk (a `models add` over an installed
    model takes effect on the next job, no restart). ``kind`` separates different loaded forms of one entry."""
    folder = Path(models_dir) / REGISTRY.get(name).name
    key = (name, str(Path(models_dir).resolve()), kind)
    stamp = _files_stamp(folder)
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        lock = _load_locks.setdefault(key, threading.Lock())
    with lock:  # one load per model even if two threads ask at once
        cached = _cache.get(key)
        if cached is None or cached[0] != stamp:
            log.info("loading model %s (%s)%s", name, kind, " again: its files changed" if cached else "")
            _cache[key] = (stamp, load(folder))
        return _cache[key][1]


def loaded_models() -> list[tuple[str, str]]:
    """(name, kind) of every model loaded in this process."""
    with _cache_lock:
        return [(name, kind) for name, _, kind in _cache]


def clear_model_cache() -> None:
    """Forget every loaded model (tests; freeing GPU memory)."""
    with _cache_lock:
        _cache.clear()
        _load_locks.clear()
    try:
        import sys

        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:  # noqa: BLE001 - best effort
        pass


def run_model_engine(operation: str, inp: EngineInput, models_dir: Path) -> EngineOutput | None:
    """Run the model engine for ``operation`` on ``inp``, or return None when no model is installed for it
    (or its libraries cannot be imported here), so that the classical engine serves instead."""
    spec = OPERATIONS.get(operation)
    if spec is None or spec.model is None:
        return None
    try:
        from workers.device import device_name

        device = device_name()
    except ImportError as error:
        log.warning("torch is not importable (%s); model engines are off", error)
        return None
    name = installed_model_for(operation, inp.params, Path(models_dir), device)
    if name is None:
        return None
    try:
        engine = load_function(spec.model.engine)  # (EngineInput, model name, models dir) -> EngineOutput
        return engine(inp, name, Path(models_dir))
    except ImportError as error:
        log.warning("model engine for %s unavailable: %s", operation, error)
        return None
    except (EngineError, EngineUnavailable):
        raise
    except MemoryError as error:
        raise EngineError(f"{name}: out of memory for this image") from error
    except Exception as error:  # noqa: BLE001 - the job fails with a message rather than a traceback
        log.exception("model %s failed", name)
        raise EngineError(f"{name} failed: {error}") from error


def describe_runtime() -> str:
    """One line for the worker's start-up log: device, precision policy, and the ONNX Runtime providers a
    session really gets (probed once when the build offers CUDA; see onnx_probe)."""
    parts = []
    try:
        import torch

        from workers.device import device_name, native_bf16

        device = device_name()
        if device == "cuda":
            name = torch.cuda.get_device_name(0)
            bf16 = native_bf16()
            parts.append(f"device=cuda ({name})")
            parts.append(f"dtype=fp16 where supported, else {'bf16' if bf16 else 'fp32'}; channels_last")
        else:
            from workers.cpu_precision import cpu_precision, native_cpu_bf16

            parts.append(f"device=cpu ({torch.get_num_threads()} threads)")
            hardware = "native bf16" if native_cpu_bf16() else "no native bf16"
            parts.append(f"dtype={'bf16' if cpu_precision() == 'bfloat16' else 'fp32'} ({hardware}); channels_last")
        parts.append(f"torch={torch.__version__}")
    except ImportError:
        parts.append("torch=missing (classical engines only)")
    from workers.inference.onnx_probe import describe_onnx_runtime

    parts.append(describe_onnx_runtime())
    return "; ".join(parts)
