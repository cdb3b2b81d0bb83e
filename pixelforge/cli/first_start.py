"""`pixelforge serve`'s first start: pull the default models in the background, as IOPaint fetches its model at
start and rembg on first use, so a new install runs real models without a separate `models pull`.

The web is up before this starts and never waits for it; workers pick each model up within a heartbeat of its
install. A marker in the instance folder records the attempt, so later starts do not try again (a failure
included) unless asked (`serve --pull-models`); `serve --offline` and PULL_MODELS_ON_START=false skip it. An
interrupted pull writes no marker, and the next start resumes it.
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import click

from pixelforge import model_registry as reg
from pixelforge.operations import OPERATIONS

# One model per operation that a CPU serves at a usable speed and whose licence needs no one's consent; every file
# has a published SHA-256. sd-inpainting (2 GB, a use-restricted licence) and the RRDBNet upscalers (GPU-sized) are
# left to `models pull`. U^2-Net rather than IS-Net for background removal: it also comes from the package index.
DEFAULT_MODELS = ("rembg-u2net", "realesr-general-x4v3", "gfpgan-1.4", "lama")
MARKER = "models-pulled-on-first-start.json"
@dataclass
class PullReport:
    installed: list[str] = field(default_factory=list)  # pulled now
    present: list[str] = field(default_factory=list)  # installed before
    failed: dict[str, str] = field(default_factory=dict)  # name: why no source gave it


def with_requirements(names: tuple[str, ...]) -> list[str]:
    """names, each preceded by the models it needs (gfpgan its face detector), without repeats."""
    ordered: list[str] = []
    for name in names:
        for needed in (*reg.REGISTRY.get(name).requires, name):
            if needed not in ordered:
                ordered.append(needed)
    return ordered


def pull_default_models(models_dir: Path, names: tuple[str, ...] = DEFAULT_MODELS,
                        show_progress: bool = True) -> PullReport:
    """Install each of ``names`` that is not installed yet; one that no source gives is reported, not raised."""
    from pixelforge.cli.models import install_entry

    report = PullReport()
    for name in with_requirements(names):
        if reg.is_installed(name, models_dir):  # a custom add stays as it is
            report.present.append(name)
            continue
        entry = reg.REGISTRY.get(name)
        missing = [needed for needed in entry.requires if needed in report.failed]
        if missing:  # of no use without it
            report.failed[name] = f"needs {', '.join(missing)}, which could not be fetched"
            click.echo(f"models: {name} not pulled: {report.failed[name]}", err=True)
            continue
        click.echo(f"models: pulling {name} ({entry.description})", err=True)
        try:
            install_entry(entry, models_dir, show_progress=show_progress)
        except click.ClickException as error:
            report.failed[name] = error.message
            click.echo(f"models: {name} could not be fetched; {error.message}", err=True)
        else:
            report.installed.append(name)
            click.echo(f"models: {name} installed and checked (sha256)", err=True)
    return report


def engine_lines(models_dir: Path, report: PullReport, device: str) -> list[str]:
    """Which engine serves each operation now, and why a classical one does."""
    failed = set(report.failed)
    lines = []
    for operation, label, params in _engine_rows():
        name = reg.installed_model_for(operation.name, params, models_dir, device)
        if name:
            lines.append(f"  {label:<18} model {name}")
            continue
        wanted = reg.model_for(operation.name, params, lambda n: n in DEFAULT_MODELS, device)
        if wanted in failed:
            why = f"{wanted} could not be fetched (above); `pixelforge models pull {wanted}` tries again"
        elif wanted:
            why = f"{wanted} is not installed; `pixelforge models pull {wanted}`"
        else:
            wanted = reg.model_for(operation.name, params, lambda n: True, device)
            why = f"not pulled by default; `pixelforge models pull {wanted}`"
        kind = "unavailable" if operation.needs_model else "classical"
        lines.append(f"  {label:<18} {kind} ({why})")
    return lines


def _engine_rows():
    """(operation, label, params) in the order `models list` shows them: each variant with its defaults."""
    for operation in OPERATIONS.values():
        for variant, params in operation.variants:
            yield operation, f"{operation.name} {variant}".strip(), {**operation.defaults(), **params}


def marker_path(instance: Path) -> Path:
    return Path(instance) / MARKER


def write_marker(instance: Path, report: PullReport) -> None:
    record = {"finished_at": datetime.now(timezone.utc).isoformat(), "installed": report.installed,
              "present": report.present, "failed": report.failed}
    marker_path(instance).write_text(json.dumps(record, indent=2) + "\n")


def pull_decision(instance: Path, models_dir: Path, enabled: bool, offline: bool,
                  force: bool) -> tuple[bool, str]:
    """(pull now?, the line that says why not). A model the first start could not fetch but installed since (by
    `models add` or `models pull`) is not named again."""
    if offline:
        return False, "models: --offline, so the default models are not pulled"
    if force:
        return True, ""
    if not enabled:
        return False, "models: PULL_MODELS_ON_START is off, so the default models are not pulled"
    marker = marker_path(instance)
    if not marker.is_file():
        return True, ""
    failed = [name for name in json.loads(marker.read_text()).get("failed") or {}
              if name not in reg.REGISTRY or not reg.is_installed(name, Path(models_dir))]
    if failed:
        return False, (f"models: {', '.join(failed)} could not be fetched on the first start (see {marker}); "
                       "`pixelforge serve --pull-models` tries again")
    return False, ""


def first_start_pull(instance: Path, models_dir: Path, device: str, names: tuple[str, ...] = DEFAULT_MODELS,
                     show_progress: bool = True) -> PullReport:
    """Pull, say which engines now serve, and record the attempt (what serve runs in its background thread)."""
    try:
        report = pull_default_models(Path(models_dir), names, show_progress)
    except Exception as error:  # noqa: BLE001 - a broken pull must leave serve running on classical engines
        report = PullReport(failed={name: f"{type(error).__name__}: {error}" for name in names})
        click.echo(f"models: the pull stopped: {error}", err=True)
    lines = engine_lines(Path(models_dir), report, device)
    click.echo("models: engines now serving:\n" + "\n".join(lines), err=True)
    write_marker(instance, report)
    return report


def start_first_start_pull(instance: Path, models_dir: Path, device: str) -> threading.Thread:
    """first_start_pull in a daemon thread: the web keeps answering, and stopping serve never waits for a pull."""
    thread = threading.Thread(target=first_start_pull, args=(instance, models_dir, device),
                              name="pixelforge-first-start-pull", daemon=True)
    thread.start()
    return thread


def begin(app, offline: bool, force: bool) -> threading.Thread | None:
    """What `serve` runs once its web answers: the pull in the background when this start should pull, else the
    line that says why not (nothing at all on an ordinary later start)."""
    from pixelforge.cli.models import guess_device

    instance = Path(app.instance_path)
    models_dir = Path(app.config["MODELS_DIR"])
    pull, why_not = pull_decision(instance, models_dir, app.config["PULL_MODELS_ON_START"], offline, force)
    if why_not:
        click.echo(why_not, err=True)
    if not pull:
        return None
    return start_first_start_pull(instance, models_dir, guess_device())
