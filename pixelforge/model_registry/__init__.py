"""The model registry: which weights exist (known.py; what an entry is: entries.py), where they are installed, whether they match what
was published, and which one serves an operation right now (the operation's spec says which it prefers).

Pure data and file-existence checks: the web process imports this module, so it never imports torch,
diffusers or rembg.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Callable

from pixelforge.operations import OPERATIONS
from pixelforge.model_registry.known import REGISTRY
from pixelforge.model_registry.entries import (FACE_DETECTION, LOAD_DIFFUSERS_INPAINT, LOAD_OPENCV_YUNET,
                                   LOAD_REMBG_ISNET, LOAD_REMBG_U2NET, LOAD_SPANDREL, SPANDREL_SUFFIXES,
                                   DuplicateModelError, HubSnapshot, Licence, ModelEntry, ModelFile, ModelRegistry,
                                   PackagedFile, RegistryError, UnknownModelError)

__all__ = [  # the entries' types and the table, re-exported: callers read the registry from here
    "FACE_DETECTION", "LOAD_DIFFUSERS_INPAINT", "LOAD_OPENCV_YUNET", "LOAD_REMBG_ISNET", "LOAD_REMBG_U2NET",
    "LOAD_SPANDREL", "SPANDREL_SUFFIXES", "DuplicateModelError", "HubSnapshot", "Licence", "ModelEntry", "ModelFile",
    "ModelRegistry", "PackagedFile", "RegistryError", "UnknownModelError", "REGISTRY",
    "model_dir", "file_variants", "installed_variants", "installed_file", "weights_file", "is_installed",
    "PARTIAL_SUFFIX", "interrupted_download_bytes", "file_digests", "check_file", "check_files", "installed_models",
    "installed_model_for", "model_for",
]

PARTIAL_SUFFIX = ".part"  # a download in progress, or one broken off for the next pull to resume


def model_dir(models_dir: Path, name: str) -> Path:
    """Where a model's files live: <models_dir>/<name>/."""
    return Path(models_dir) / REGISTRY.get(name).name


def file_variants(entry: ModelEntry, spec: ModelFile) -> list[str]:
    """Paths (relative to the model's folder) a file may be installed under: its registry path and, for a
    spandrel entry, the same name with each other suffix spandrel loads. `models add` keeps a custom file's
    own suffix because spandrel picks its reader by the suffix (a .safetensors renamed .pth would not load)."""
    if entry.loader != LOAD_SPANDREL:
        return [spec.path]
    suffix = Path(spec.path).suffix
    stem = spec.path[: -len(suffix)] if suffix else spec.path  # not Path.with_suffix: "GFPGANv1.4.pth"
    return [spec.path] + [stem + other for other in SPANDREL_SUFFIXES if other != suffix.lower()]


def installed_variants(folder: Path, entry: ModelEntry, spec: ModelFile) -> list[Path]:
    """The variants of ``spec`` that exist under the model's folder, the registry path first."""
    return [Path(folder) / v for v in file_variants(entry, spec) if (Path(folder) / v).is_file()]


def _first_installed_variant(folder: Path, entry: ModelEntry, spec: ModelFile) -> Path | None:
    """The first variant of ``spec`` that exists (the registry path first), stopping at it; None when none does.
    Runs for every job's model choice, so it stats no more files than it must."""
    return next((path for v in file_variants(entry, spec) if (path := Path(folder) / v).is_file()), None)


def installed_file(folder: Path, entry: ModelEntry, spec: ModelFile) -> Path:
    """Where ``spec`` is installed under the model's folder: the registry path, else a custom file of another
    format added in its place; the registry path when neither exists (so errors name the expected file)."""
    return _first_installed_variant(folder, entry, spec) or Path(folder) / spec.path


def weights_file(name: str, models_dir: Path) -> Path:
    """The installed weights of a single-file model (what the worker's loaders open)."""
    entry = REGISTRY.get(name)
    return installed_file(model_dir(models_dir, name), entry, entry.files[0])


def is_installed(name: str, models_dir: Path) -> bool:
    """All of the model's files (in any format its loader reads) and those of the models it requires exist;
    no hashing."""
    entry = REGISTRY.get(name)
    base = model_dir(models_dir, name)
    if not all(_first_installed_variant(base, entry, f) for f in entry.files):
        return False
    return all(is_installed(dep, models_dir) for dep in entry.requires)


def interrupted_download_bytes(name: str, models_dir: Path) -> int:
    """Bytes of the model's interrupted downloads (<file>.part, which the next pull resumes) when it is not
    installed; 0 otherwise."""
    base = model_dir(models_dir, name)
    if not base.is_dir() or is_installed(name, models_dir):
        return 0
    return sum(path.stat().st_size for path in base.rglob("*" + PARTIAL_SUFFIX) if path.is_file())


def file_digests(path: Path, chunk: int = 1 << 20) -> tuple[str, str]:
    """(sha256, md5) of a file, read once."""
    sha, md5 = hashlib.sha256(), hashlib.md5()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            sha.update(block)
            md5.update(block)
    return sha.hexdigest(), md5.hexdigest()


def check_file(path: Path, spec: ModelFile) -> list[str]:
    """Problems with an installed file against its published size and checksums (empty list: it matches)."""
    if not path.is_file():
        return [f"{spec.path}: missing"]
    problems = []
    size = path.stat().st_size
    if spec.size is not None and size != spec.size:
        problems.append(f"{spec.path}: size {size} != published {spec.size}")
    if spec.verifiable:
        sha256, md5 = file_digests(path)
        if spec.sha256 is not None and sha256 != spec.sha256:
            problems.append(f"{spec.path}: sha256 {sha256} != published {spec.sha256}")
        if spec.md5 is not None and md5 != spec.md5:
            problems.append(f"{spec.path}: md5 {md5} != published {spec.md5}")
    return problems


def check_files(folder: Path, specs: tuple[ModelFile, ...]) -> dict[str, list[str]]:
    """check_file for each spec under folder: {path: problems} for the files that are missing or differ."""
    found = {f.path: check_file(Path(folder) / f.path, f) for f in specs}
    return {path: problems for path, problems in found.items() if problems}


def installed_models(models_dir: Path) -> list[str]:
    """The registry names installed in models_dir (every file present; no hashing)."""
    return [entry.name for entry in REGISTRY if is_installed(entry.name, Path(models_dir))]


def installed_model_for(operation: str, params: dict[str, Any], models_dir: Path,
                        device: str = "cpu") -> str | None:
    """The registry name of the model that would serve this operation now, or None (classical engine)."""
    models_dir = Path(models_dir)
    return model_for(operation, params, lambda name: is_installed(name, models_dir), device)


def model_for(operation: str, params: dict[str, Any], has: Callable[[str], bool], device: str = "cpu") -> str | None:
    """The model a worker whose installed models pass ``has`` would run this job with on ``device``, or None
    (classical engine): the first of the operation's preferred models (its spec's) that is known and installed.
    Pure: the web uses it on what live workers publish, a worker on its own folder."""
    spec = OPERATIONS.get(operation)
    if spec is None or spec.model is None:
        return None
    return next((name for name in spec.model.preference(params, device) if name in REGISTRY and has(name)), None)
