"""Run one benchmark case in a fresh Python process, so cases share no warm caches and no memory peak.

`run_case("bench.engines_cpu:classical_case", operation="enhance", ...)` starts
`python -m bench.case bench.engines_cpu:classical_case '<json kwargs>'`; the case function returns a dict of
figures, to which the child adds its own peak RSS (VmHWM, MB) over its whole life.
"""
from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def run_case(function: str, timeout: float = 600, **kwargs) -> dict:
    """The case's figures, or {"error": why} when it failed (the bench goes on with the other cases)."""
    try:
        done = subprocess.run([sys.executable, "-m", "bench.case", function, json.dumps(kwargs)], cwd=REPO_ROOT,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        return {"error": lines[-1][:200] if lines else f"exit code {done.returncode}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    from bench.memory import peak_mb

    module_name, name = sys.argv[1].split(":")
    result = getattr(importlib.import_module(module_name), name)(**json.loads(sys.argv[2]))
    result.setdefault("process_peak_rss_mb", peak_mb())
    print(json.dumps(result))


if __name__ == "__main__":
    main()
