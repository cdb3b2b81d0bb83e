"""`python -m bench [--quick] [--only SECTION,…]`: run the sections, print the machine, one table, one summary line."""
from __future__ import annotations

import argparse
import math
import sys
import time
import traceback

from bench.table import Row, render

SECTIONS = ("overhead", "polling", "notify", "encoding", "warm", "engines", "large", "fidelity", "first_job",
            "rembg", "cpu_speed")


class Settings:
    """How much each section does: --quick finishes in 3-4 minutes on a 2-core machine (sections 9 and 10 run
    real-size models)."""

    def __init__(self, quick: bool):
        self.quick = quick
        self.jobs = 20 if quick else 200
        self.poll_rounds, self.poll_seconds = (1, 1.5) if quick else (3, 3.0)
        self.notify_jobs, self.notify_polled_jobs = (5, 2) if quick else (20, 5)
        self.encode_repeats = 2 if quick else 3
        self.encode_levels = [0, 1] if quick else list(range(10))  # level 6 is Pillow's default, timed anyway


def _section(name: str, rows: list[Row], work) -> None:
    """Run one section; a failure becomes a row, and the other sections still run."""
    start = time.monotonic()
    print(f"[bench] {name}…", file=sys.stderr, flush=True)
    try:
        rows.extend(work())
    except Exception as exc:  # a broken section must not hide the others' figures
        traceback.print_exc()
        rows.append(Row(name, "section failed", None, "", f"{type(exc).__name__}: {exc}"[:300]))
    print(f"[bench] {name} done in {time.monotonic() - start:.1f} s", file=sys.stderr, flush=True)


def _service_sections(wanted: set[str], settings: Settings, rows: list[Row], summary: dict) -> None:
    from bench import large_images, notify, overhead, polling
    from bench.service import BenchService

    def with_summary(result):
        section_rows, figures = result
        summary.update(figures)
        return section_rows

    with BenchService() as service:
        if "overhead" in wanted:
            _section("1 job overhead", rows, lambda: with_summary(
                overhead.run(service, settings.jobs, warm_fork=not settings.quick)))
        if "polling" in wanted:
            _section("2 status polling", rows, lambda: with_summary(
                polling.run(service, settings.poll_rounds, settings.poll_seconds)))
        if "notify" in wanted:
            _section("7 job notification", rows, lambda: with_summary(
                notify.run(service, settings.notify_jobs, settings.notify_polled_jobs)))
        if "large" in wanted:
            _section("6 large images (API)", rows, lambda: large_images.output_cap_rows(service))


def _with_figures(module: str, quick: bool, summary: dict) -> list[Row]:
    """Run a section module's run(quick) -> (rows, figures), keeping its figures for the summary line."""
    import importlib

    section_rows, figures = importlib.import_module(module).run(quick)
    summary.update(figures)
    return section_rows


def _figure(value: float) -> str:
    """3 significant figures; n/a for a figure the run could not measure (a section that was not run, or failed)."""
    return "n/a" if math.isnan(value) else f"{value:.3g}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes and few repetitions (3-4 minutes)")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}")
    args = parser.parse_args(argv)
    wanted = set(args.only.split(","))
    unknown = wanted - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    settings = Settings(args.quick)
    from bench import encoding, engines_cpu, large_images, models_warm
    from bench.machine import describe

    started = time.monotonic()
    machine = describe()
    rows: list[Row] = []
    summary: dict[str, float] = {}
    if wanted & {"overhead", "polling", "notify", "large"}:
        _section("service", rows, lambda: _service_sections(wanted, settings, rows, summary) or [])
    if "encoding" in wanted:
        def encode():
            section_rows, figures = encoding.run(settings.encode_repeats, settings.encode_levels,
                                                 alternatives=not settings.quick)
            summary.update(figures)
            return section_rows
        _section("3 result encoding", rows, encode)
    if "warm" in wanted:
        _section("4 warm models", rows, lambda: models_warm.run(settings.quick))
    if "engines" in wanted:
        _section("5 engines on CPU", rows, lambda: engines_cpu.run(settings.quick))
    if "large" in wanted and not settings.quick:
        _section("6 large images", rows, large_images.run)
    for name, label, module in (("fidelity", "7 fidelity", "bench.fidelity"),
                                ("first_job", "8 first job", "bench.first_job"),
                                ("rembg", "9 rembg s", "bench.rembg_ratio"),
                                ("cpu_speed", "10 CPU speed", "bench.cpu_speed")):
        if name in wanted:
            _section(label, rows, lambda module=module: _with_figures(module, settings.quick, summary))

    print(f"PixelForge benchmarks{' (--quick)' if settings.quick else ''}")
    print("\n".join(machine))
    print(f"wall time: {time.monotonic() - started:.0f} s")
    print()
    print(render(rows))
    print()
    names = ("overhead_ratio", "poll_ratio", "encode_ratio", "p50_submit_to_done_ms", "first_job_extra_s",
             "enhance_well_exposed_max_de", "face_precision", "wait_added_ms", "rembg_ratio", "cpu_upscale_speedup")
    print(" ".join(f"{name}={_figure(summary.get(name, math.nan))}" for name in names))
    return 0


if __name__ == "__main__":
    sys.exit(main())
