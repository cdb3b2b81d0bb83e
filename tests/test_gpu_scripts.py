"""The by-hand GPU scripts (bench/gpu.py, gpu_check.py and gpu_engines.py) still run: they are used on the rare
machine with a CUDA GPU, where a script broken by a later change would waste the machine. Their CPU modes run the
same code paths at small sizes; the figures are not checked here (benchmarks check figures, tests check
behaviour)."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
YUNET = ROOT.parent / "shared" / "models" / "face_detection_yunet_2023mar.onnx"

pytestmark = pytest.mark.slow


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_gpu_benchmark_smoke_run_prints_every_row():
    done = run("bench.gpu", "--smoke")
    assert done.returncode == 0, done.stderr[-2000:]
    for row in ("Real-ESRGAN x4plus", "SD-inpainting UNet", "GFPGAN v1.4 per 512² face"):
        assert row in done.stdout


def test_gpu_check_compares_precision_and_tiling_on_the_cpu():
    done = run("bench.gpu_check", "--device", "cpu", "--size", "32", "--repeats", "1",
               "--arch", "realesr-general-x4v3", "--arch", "sd-inpainting")
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert any(line.startswith("realesr-general-x4v3") for line in lines)
    assert any(line.startswith("sd-inpainting unet") and "float16" in line for line in lines)
    assert any(line.startswith("sd-inpainting vae") for line in lines)
    assert lines[-1] == "all checks passed"


def test_gpu_check_runs_the_cuda_dtypes_on_the_cpu():
    done = run("bench.gpu_check", "--device", "cpu", "--cuda-dtypes", "--size", "32", "--repeats", "1",
               "--arch", "realesr-general-x4v3", "--arch", "lama")
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    rows = {line.split()[0]: line.split()[1] for line in done.stdout.splitlines()[1:-1]}
    assert rows == {"realesr-general-x4v3": "float16", "lama": "float32"}  # LaMa stays float32 on CUDA


def test_gpu_benchmark_without_a_gpu_says_why_and_exits_cleanly():
    done = run("bench.gpu")
    assert done.returncode == 0 and "no CUDA device here" in done.stdout


def test_every_engine_runs_through_the_workers_call_in_the_engines_smoke_run():
    done = run("bench.gpu_engines", "--smoke")
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines[-2].startswith("first_job_extra_s=")  # a worker's first job after its warm-up, against warm
    results = {" ".join(line.split()[:2]): line for line in lines[1:-2]}
    face = results.pop("restore-face gfpgan-1.4")
    assert face.endswith("  ok") if YUNET.is_file() else "skipped: no YuNet file" in face  # the real detector
    assert {case: line.rsplit(None, 1)[-1] for case, line in results.items()} == {
        "upscale realesrgan-x4plus": "ok", "upscale realesr-general-x4v3": "ok", "upscale realesrgan-x2plus": "ok",
        "enhance realesrgan-x2plus": "ok", "erase-object lama": "ok", "inpaint sd-inpainting": "ok"}
    skipped = "" if YUNET.is_file() else " but restore-face gfpgan-1.4 (skipped)"
    assert lines[-1] == "every engine ran on cpu" + skipped


def test_engines_check_without_a_gpu_says_why_and_exits_cleanly():
    done = run("bench.gpu_engines")
    assert done.returncode == 0 and "no CUDA device here" in done.stdout
