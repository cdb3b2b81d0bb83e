"""Inputs the benchmarks share: a photographic test image at any size, masks, and random-weight model files."""
from __future__ import annotations

import functools
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
GRAIN_SIGMA = 2.0  # an enlarged 512² photo is smoother than a camera's; this restores a sensor's noise floor


@functools.lru_cache(maxsize=8)
def photo(width: int, height: int, seed: int = 0) -> np.ndarray:
    """skimage's astronaut (bundled, no download) resized to width×height plus fine grain: HxWx3 uint8."""
    import cv2
    from skimage import data

    source = data.astronaut()
    resized = cv2.resize(source, (width, height), interpolation=cv2.INTER_LANCZOS4 if width > 512 else cv2.INTER_AREA)
    grain = np.random.default_rng(seed).normal(0.0, GRAIN_SIGMA, resized.shape)
    return np.clip(resized + grain, 0, 255).astype(np.uint8)


def size_for_megapixels(megapixels: float, aspect: float = 4 / 3) -> tuple[int, int]:
    """(width, height) with about that many pixels at 4:3."""
    height = round((megapixels * 1e6 / aspect) ** 0.5)
    return round(height * aspect), height


def centre_mask(width: int, height: int, fraction: float = 0.1) -> np.ndarray:
    """A 0/255 mask covering an ellipse of about `fraction` of the picture, in its middle."""
    import cv2

    mask = np.zeros((height, width), np.uint8)
    axes = (max(1, int(width * fraction ** 0.5 / 1.8)), max(1, int(height * fraction ** 0.5 / 1.8)))
    cv2.ellipse(mask, (width // 2, height // 2), axes, 0, 0, 360, 255, -1)
    return mask


def model_factories():
    """The tests' model_factories module (random-weight builders with the real architectures)."""
    folders = [str(REPO_ROOT / "tests"), str(REPO_ROOT / "tests" / "workers")]  # it moved once; accept both
    sys.path[:0] = folders
    try:
        import model_factories
    finally:
        for folder in folders:
            sys.path.remove(folder)
    return model_factories


def models_cache() -> Path:
    """Where generated weights are kept between runs (they are deterministic: same seed, same files)."""
    folder = Path(os.environ.get("PIXELFORGE_BENCH_MODELS") or Path(tempfile.gettempdir()) / "pixelforge-bench-models")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _write_once(path: Path, write) -> Path:
    if not path.exists():
        partial = path.with_name(path.name + ".partial")
        write(partial)
        partial.rename(path)
    return path


def install_model(name: str, models_dir: Path, size: str = "real") -> Path:
    """Put random weights for registry entry `name` into models_dir (generated once into the cache, then linked).

    size "real": the released architecture and size; "tiny": the tests' small variant of the same architecture."""
    from pixelforge.model_registry import REGISTRY

    factories = model_factories()
    entry = REGISTRY.get(name)
    target = Path(models_dir) / entry.name
    if name == "sd-inpainting":  # a diffusers folder; only the tiny pipeline is generated on a CPU host
        source = models_cache() / f"{name}-tiny"
        if not source.exists():
            factories.write_tiny_sd_inpainting(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            target.symlink_to(source, target_is_directory=True)
        return target
    writers = {
        "realesr-general-x4v3": {"real": lambda p: factories.write_compact(p, 4, num_feat=64, num_conv=32),
                                 "tiny": lambda p: factories.write_compact(p, 4)},
        "realesrgan-x4plus": {"real": lambda p: factories.write_rrdbnet(p, 4, num_feat=64, num_block=23),
                              "tiny": lambda p: factories.write_rrdbnet(p, 4)},
        "realesrgan-x2plus": {"real": lambda p: factories.write_rrdbnet(p, 2, num_feat=64, num_block=23),
                              "tiny": lambda p: factories.write_rrdbnet(p, 2)},
        "gfpgan-1.4": {"real": factories.write_gfpgan},
        "lama": {"real": factories.write_lama},
        # Not the real U^2-Net: a one-layer graph with its signature, so rembg's own pre/post-processing runs.
        "rembg-u2net": {"stand-in": factories.write_u2net_like_onnx},
    }
    filename = entry.files[0].path
    cached = models_cache() / f"{name}-{size}" / filename
    cached.parent.mkdir(parents=True, exist_ok=True)
    _write_once(cached, writers[name][size])
    target.mkdir(parents=True, exist_ok=True)
    link = target / filename
    if not link.exists():
        link.symlink_to(cached)
    return link
