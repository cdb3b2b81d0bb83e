"""The pinned requirement files: the GPU one is the CPU one with ONNX Runtime's GPU build, nothing else."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def pins(name: str) -> dict[str, str]:
    lines = (ROOT / name).read_text().splitlines()
    return dict(line.split("==", 1) for line in lines if line.strip() and not line.startswith("#"))


def test_gpu_requirements_differ_only_in_onnxruntime():
    cpu, gpu = pins("requirements.txt"), pins("requirements-gpu.txt")
    assert "onnxruntime" in cpu and "onnxruntime" not in gpu
    assert "onnxruntime-gpu" in gpu and "onnxruntime-gpu" not in cpu
    del cpu["onnxruntime"], gpu["onnxruntime-gpu"]
    assert cpu == gpu
