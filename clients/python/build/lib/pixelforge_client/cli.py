"""`pixelforge-client run OPERATION INPUTS… -o OUT`: files or folders in, results out under the same names.

Resumable (a result that exists is skipped), parallel (--jobs), with a progress bar and a line per file; the exit
code is 1 when any file failed.
"""
from __future__ import annotations

import argparse
import sys
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from pixelforge_client.client import Client
from pixelforge_client.errors import PixelForgeError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}
RESULT_SUFFIXES = (".png", ".webp", ".jpg")


@dataclass(frozen=True)
class Task:
    source: Path
    target_stem: Path  # the output path without its suffix: the result's type decides it


@dataclass(frozen=True)
class Outcome:
    task: Task
    status: str  # done, skipped or failed
    detail: str = ""
    credits: int = 0


def find_tasks(inputs: list[str], out_dir: Path) -> list[Task]:
    """Every image under the inputs, each with its output path (a folder's structure is kept)."""
    tasks = []
    for raw in inputs:
        path = Path(raw)
        if path.is_dir():
            for source in sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES):
                tasks.append(Task(source, out_dir / source.relative_to(path).with_suffix("")))
        elif path.is_file():
            tasks.append(Task(path, out_dir / path.stem))
        else:
            raise SystemExit(f"pixelforge-client: {raw}: no such file or folder")
    return tasks


def existing_result(task: Task) -> Path | None:
    for suffix in RESULT_SUFFIXES:
        candidate = task.target_stem.with_name(task.target_stem.name + suffix)
        if candidate.exists():
            return candidate
    return None


def process(client: Client, operation: str, task: Task, params: dict, mask: str | None) -> Outcome:
    if existing_result(task) is not None:
        return Outcome(task, "skipped", "result exists")
    try:
        result = client.run(operation, task.source, mask, **params)
    except PixelForgeError as exc:
        return Outcome(task, "failed", str(exc))
    except OSError as exc:
        return Outcome(task, "failed", f"could not read or write: {exc}")
    target = result.save(task.target_stem.with_name(f"{task.target_stem.name}.{result.extension}"))
    return Outcome(task, "done", str(target), result.job.credits_spent)


def parse_params(pairs: list[str]) -> dict[str, str]:
    params = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise SystemExit(f"pixelforge-client: --param takes NAME=VALUE, got {pair!r}")
        params[name] = value
    return params


def run_batch(args: argparse.Namespace) -> int:
    tasks = find_tasks(args.inputs, Path(args.output))
    params = parse_params(args.param)
    outcomes: list[Outcome] = []
    lock = threading.Lock()
    with Client(args.base_url, args.api_key) as client, \
            tqdm(total=len(tasks), unit="file", disable=args.quiet, file=sys.stderr) as bar, \
            ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = [pool.submit(process, client, args.operation, task, params, args.mask) for task in tasks]
        for future in as_completed(futures):
            outcome = future.result()
            with lock:
                outcomes.append(outcome)
                mark = {"done": "ok", "skipped": "skip", "failed": "FAIL"}[outcome.status]
                bar.write(f"{mark:>4}  {outcome.task.source}  {outcome.detail}", file=sys.stderr)
                bar.update(1)
    failed = [o for o in outcomes if o.status == "failed"]
    counts = {status: sum(o.status == status for o in outcomes) for status in ("done", "skipped", "failed")}
    print(f"{counts['done']} done, {counts['skipped']} skipped, {counts['failed']} failed; "
          f"{sum(o.credits for o in outcomes)} credit(s) spent")
    for outcome in failed:
        print(f"failed: {outcome.task.source}: {outcome.detail}", file=sys.stderr)
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pixelforge-client", description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", help="the server (default: PIXELFORGE_BASE_URL or http://127.0.0.1:8000)")
    parser.add_argument("--api-key", help="your key (default: PIXELFORGE_API_KEY)")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run one operation over files and folders")
    run.add_argument("operation", help="upscale, remove-background, restore-face, enhance, erase-object, inpaint")
    run.add_argument("inputs", nargs="+", help="image files or folders (searched recursively)")
    run.add_argument("-o", "--output", required=True, help="folder for the results")
    run.add_argument("-j", "--jobs", type=int, default=4, help="files in flight at once (4)")
    run.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE",
                     help="an operation parameter, e.g. -p scale=4 (repeatable)")
    run.add_argument("--mask", help="a mask file for erase-object and inpaint (used for every input)")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run_batch(args)
    except PixelForgeError as exc:  # e.g. no API key: say so, no traceback
        print(f"pixelforge-client: {exc}", file=sys.stderr)
        return 2
