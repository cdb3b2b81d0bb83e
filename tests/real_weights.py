"""Real model files for the slow tests and the benchmarks: a checked file in ../shared/models, or a registry file
fetched once (from its sources, as `pixelforge models pull` does) into a cache that outlives test runs.

The cache is ~/.cache/pixelforge/weights (PIXELFORGE_WEIGHTS_CACHE overrides it), so CI downloads U^2-Net's
176 MB once. Every file is checked against the registry's SHA-256 before use; when one cannot be had, callers
skip with the reason this module gives.
"""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_MODELS = REPO_ROOT.parent / "shared" / "models"  # beside the checkout in CI and on the team's hosts


def cache_dir() -> Path:
    configured = os.environ.get("PIXELFORGE_WEIGHTS_CACHE")
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return Path(configured) if configured else base / "pixelforge" / "weights"


def _matches(path: Path, spec) -> bool:
    from pixelforge.model_registry import check_file

    return path.is_file() and not check_file(path, spec)


def shared_file(model: str) -> tuple[Path | None, str]:
    """(path, "") of a registry model's file in ../shared/models when it is there and matches its SHA-256, else
    (None, why not)."""
    from pixelforge.model_registry import REGISTRY

    spec = REGISTRY.get(model).files[0]
    path = SHARED_MODELS / spec.path
    if not path.is_file():
        return None, f"{path} is absent (only checkouts beside the team's shared folder have it)"
    if not _matches(path, spec):
        return None, f"{path} does not match the registry's SHA-256 for {model}"
    return path, ""


def fetched_file(model: str) -> tuple[Path | None, str]:
    """(path, "") of a registry model's file, fetched into the cache on first use from the registry's sources,
    else (None, why it could not be had)."""
    import click

    from pixelforge.cli.model_sources import fetch
    from pixelforge.model_registry import REGISTRY

    entry = REGISTRY.get(model)
    spec = entry.files[0]
    path = cache_dir() / entry.name / spec.path
    if _matches(path, spec):
        return path, ""
    try:
        fetch(spec, path, show_progress=False)
    except click.ClickException as error:
        return None, f"{model} could not be fetched: {error.message}"
    return path, ""


def install(path: Path, model: str, models_dir: Path) -> Path:
    """Make ``models_dir`` hold ``model`` as the file at ``path`` (a symlink: no copy of 176 MB per test)."""
    from pixelforge.model_registry import REGISTRY

    entry = REGISTRY.get(model)
    target = Path(models_dir) / entry.name / entry.files[0].path
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        target.symlink_to(path)
    return target


def rembg_alpha(path: Path, image):
    """The alpha the rembg library itself gives with the weights file at ``path`` (HxW uint8)."""
    import numpy as np
    from rembg import new_session, remove

    os.environ["U2NET_HOME"] = str(Path(path).parent)  # rembg 0.26 opens model paths only inside its home
    session = new_session("u2net_custom", model_path=str(path), providers=["CPUExecutionProvider"])
    return np.asarray(remove(image, session=session).getchannel("A"))
