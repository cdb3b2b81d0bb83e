"""`pixelforge models add`: install weights you already have, checked as a pull would check them (published
checksum, or --allow-unverified) and loaded the way their engine will; the earlier install is replaced whole, and
a failed copy leaves it as it was."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import click

from pixelforge import model_registry as reg

UNVERIFIED_MARKER = ".pixelforge-unverified.json"  # written by `add --allow-unverified`, removed by `pull`


def flat_problems(bad: dict[str, list[str]]) -> list[str]:
    """reg.check_files' problems as one list."""
    return [problem for problems in bad.values() for problem in problems]


def remove_other_variants(entry: reg.ModelEntry, spec: reg.ModelFile, target: Path, keep: Path) -> None:
    """Delete the entry's file in other formats than ``keep`` (an earlier custom add), so only one is installed."""
    for path in reg.installed_variants(target, entry, spec):
        if path != keep:
            path.unlink()


def load_problem(entry: reg.ModelEntry, path: Path) -> str | None:
    """Why ``path`` would not load in ``entry``'s engine, or None (its notes, e.g. another scale, are shown)."""
    from workers.inference.loadable import ModelWillNotLoad, check_loads

    try:
        notes = check_loads(entry, path)
    except ModelWillNotLoad as error:
        return str(error)
    for note in notes:
        click.echo(f"note: {note}", err=True)
    return None


def _require_loadable(entry: reg.ModelEntry, source: Path) -> None:
    problem = load_problem(entry, source)
    if problem:
        raise click.ClickException(f"{problem}; {entry.name} was not installed")


def _swap_in_folder(source: Path, target: Path, unverified: bool) -> None:
    """Copy ``source`` into a temporary sibling of ``target`` and swap it in, so the earlier install goes as a
    whole (its leftovers, e.g. pulled *.fp16.safetensors that diffusers prefers, cannot outlive it) and a
    failed copy leaves it as it was."""
    staging = target.with_name(f".{target.name}.adding-{os.getpid()}")
    retired = target.with_name(f".{target.name}.replaced-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        shutil.copytree(source, staging)
        marker = staging / UNVERIFIED_MARKER
        if unverified:
            marker.write_text("{}")  # no per-file digests: verify checks only that `files` are present
        else:
            marker.unlink(missing_ok=True)
    except OSError as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise click.ClickException(f"copying {source} failed ({error}); {target} is left as it was") from None
    had_install = target.exists()
    if had_install:
        os.replace(target, retired)
    try:
        os.replace(staging, target)
    except OSError:
        if had_install:
            os.replace(retired, target)
        raise
    shutil.rmtree(retired, ignore_errors=True)


def add_folder(entry: reg.ModelEntry, source: Path, target: Path, allow_unverified: bool) -> None:
    """Install a diffusers folder in place of any earlier install of the entry."""
    hub = entry.hub
    assert hub is not None
    if not source.is_dir():
        raise click.ClickException(f"{entry.name} is a folder model; give the folder")
    missing = [f.path for f in entry.files if not (source / f.path).is_file()]
    if missing:
        raise click.ClickException(f"{source} lacks {', '.join(missing)}")
    problems = flat_problems(reg.check_files(source, hub.published)) if hub.published else ["no published checksum"]
    if problems and not allow_unverified:
        raise click.ClickException(f"{source} cannot be proven to be {hub.repo_id}@{hub.revision}: "
                                   + "; ".join(problems) + " (use `models pull`, or --allow-unverified to "
                                   "install it anyway)")
    _require_loadable(entry, source)
    _swap_in_folder(source, target, unverified=bool(problems))
    if problems:
        click.echo(f"{entry.name}: copied {source} to {target} (unverified)")
    else:
        click.echo(f"{entry.name}: copied {source} to {target} (weights verified by sha256; "
                   "the small configs have no published hash)")


def add_file(entry: reg.ModelEntry, source: Path, target: Path, allow_unverified: bool) -> None:
    """Install one weights file. A spandrel entry takes any format spandrel reads and keeps its suffix (the
    loader picks its reader by it), under the registry file's name; the entry's file in another format goes."""
    if source.is_dir() or len(entry.files) != 1:
        raise click.ClickException(f"{entry.name} takes one file ({entry.files[0].path})")
    spec = entry.files[0]
    by_suffix = {Path(v).suffix.lower(): v for v in reg.file_variants(entry, spec)}
    relative = by_suffix.get(source.suffix.lower())
    if relative is None:
        raise click.ClickException(f"{entry.name} expects a {' or '.join(by_suffix)} file, got {source.name}")
    problems = reg.check_file(source, spec) if spec.verifiable else ["no published checksum"]
    if problems and not allow_unverified:
        raise click.ClickException(f"{source.name} does not match {entry.name}: " + "; ".join(problems)
                                   + " (use --allow-unverified to install it anyway)")
    _require_loadable(entry, source)
    target.mkdir(parents=True, exist_ok=True)
    dest = target / relative
    shutil.copyfile(source, dest.with_name(dest.name + ".part"))
    os.replace(dest.with_name(dest.name + ".part"), dest)
    remove_other_variants(entry, spec, target, keep=dest)
    marker = target / UNVERIFIED_MARKER
    if problems:
        marker.write_text(json.dumps({relative: reg.file_digests(dest)[0]}))
        click.echo(f"{entry.name}: installed {source.name} as {relative} unverified ({'; '.join(problems)})")
    else:
        marker.unlink(missing_ok=True)
        click.echo(f"{entry.name}: installed {source.name} (checksum verified)")
