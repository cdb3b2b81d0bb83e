"""Background removal through rembg's custom sessions (u2net_custom, dis_custom) on tiny ONNX models with
U^2-Net's and IS-Net's signatures."""
import numpy as np
import pytest
from PIL import Image

import model_factories as mf
from workers.engines.base import EngineInput, EngineUnavailable
from workers.inference import run_model_engine
from workers.inference.background import onnx_providers

pytestmark = pytest.mark.usefixtures("fresh_model_cache")


@pytest.fixture
def models_dir(tmp_path):
    mf.write_u2net_like_onnx(tmp_path / "rembg-u2net" / "u2net.onnx")
    return tmp_path


def red_square(mode="RGB"):
    array = np.zeros((64, 80, 3), np.uint8)
    array[..., 2] = 200  # blue background
    array[16:48, 20:60] = (220, 20, 20)  # red subject
    image = Image.fromarray(array)
    return image.convert(mode)


def test_returns_rgba_with_the_subject_opaque(models_dir):
    out = run_model_engine("remove-background", EngineInput(red_square(), {"format": "png"}), models_dir)
    assert out.model == "rembg-u2net" and out.engine == "model"
    assert out.image.mode == "RGBA" and out.image.size == (80, 64)
    alpha = np.asarray(out.image.getchannel("A")).astype(int)
    assert alpha[24:40, 30:50].mean() > 200 and alpha[:8].mean() < 50


def test_input_alpha_is_respected(models_dir):
    image = red_square("RGBA")
    image.putalpha(Image.new("L", image.size, 0))
    out = run_model_engine("remove-background", EngineInput(image, {"format": "webp"}), models_dir)
    assert out.image.getchannel("A").getextrema() == (0, 0)


def test_the_default_isnet_model_runs_through_rembgs_dis_custom_session(models_dir, monkeypatch):
    import rembg

    weights = mf.write_isnet_like_onnx(models_dir / "rembg-isnet-general-use" / "isnet-general-use.onnx")
    sessions = []
    real = rembg.new_session

    def recording(name, *args, **kwargs):
        sessions.append((name, kwargs.get("model_path")))
        return real(name, *args, **kwargs)

    monkeypatch.setattr(rembg, "new_session", recording)
    out = run_model_engine("remove-background", EngineInput(red_square(), {"format": "png"}), models_dir)
    assert out.model == "rembg-isnet-general-use" and out.engine == "model"  # preferred over the installed u2net
    assert sessions == [("dis_custom", str(weights))]
    assert out.image.mode == "RGBA" and out.image.size == (80, 64)
    alpha = np.asarray(out.image.getchannel("A")).astype(int)
    assert alpha[24:40, 30:50].mean() > 200 and alpha[:8].mean() < 50


def test_session_is_created_once(models_dir, monkeypatch):
    import rembg

    calls = []
    real = rembg.new_session

    def counting(*args, **kwargs):
        calls.append(kwargs.get("providers"))
        return real(*args, **kwargs)

    monkeypatch.setattr(rembg, "new_session", counting)
    for _ in range(2):
        run_model_engine("remove-background", EngineInput(red_square(), {"format": "png"}), models_dir)
    assert calls == [["CPUExecutionProvider"]]


def test_gpu_host_without_cuda_provider_is_not_silently_cpu(monkeypatch):
    import onnxruntime

    monkeypatch.delenv("PIXELFORGE_ONNX_ALLOW_CPU", raising=False)
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CPUExecutionProvider"])
    with pytest.raises(EngineUnavailable, match="CUDAExecutionProvider"):
        onnx_providers("cuda")
    monkeypatch.setenv("PIXELFORGE_ONNX_ALLOW_CPU", "1")
    assert onnx_providers("cuda") == ["CPUExecutionProvider"]


def test_the_missing_gpu_provider_is_announced_before_any_job(monkeypatch, caplog):
    import onnxruntime

    from workers import device
    from workers.inference.background import gpu_provider_problem
    from workers.worker import _warn_about_gpu_providers

    monkeypatch.delenv("PIXELFORGE_ONNX_ALLOW_CPU", raising=False)
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CPUExecutionProvider"])
    assert gpu_provider_problem("cpu") is None
    assert "requirements-gpu.txt" in gpu_provider_problem("cuda")
    monkeypatch.setattr(device, "device_name", lambda: "cuda")
    _warn_about_gpu_providers()  # what a worker logs at start
    assert "background-removal models will fail" in caplog.text
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    assert gpu_provider_problem("cuda") is None


@pytest.mark.slow
def test_alpha_matting(models_dir):
    params = {"format": "png", "alpha_matting": True}
    out = run_model_engine("remove-background", EngineInput(red_square(), params), models_dir)
    assert out.image.mode == "RGBA" and out.info["alpha_matting"] is True
