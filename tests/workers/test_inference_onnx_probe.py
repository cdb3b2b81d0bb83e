"""The worker's start-up probe of the ONNX Runtime providers a session really gets."""
import logging

import numpy as np
import onnxruntime
import pytest

from workers.inference import onnx_probe

CUDA_BUILD = ["CUDAExecutionProvider", "CPUExecutionProvider"]


def test_the_embedded_probe_is_the_identity_graph_onnx_builds():
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "provider_probe",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    onnx.checker.check_model(model)
    assert model.SerializeToString() == onnx_probe.PROBE_MODEL
    session = onnxruntime.InferenceSession(onnx_probe.PROBE_MODEL, providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {"x": np.array([3.5], np.float32)})
    assert out.tolist() == [3.5]


def test_a_cpu_only_build_is_reported_without_a_probe(monkeypatch):
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CPUExecutionProvider"])
    monkeypatch.setattr(onnxruntime, "InferenceSession", lambda *a, **k: pytest.fail("probed a CPU-only build"))
    assert onnx_probe.describe_onnx_runtime() == "onnx providers=CPUExecutionProvider (no CUDA build, not probed)"


@pytest.mark.filterwarnings("ignore:Specified provider 'CUDAExecutionProvider'")
def test_a_session_that_falls_back_to_the_cpu_is_warned_about_loudly(monkeypatch, caplog):
    """onnxruntime lists CUDA (faked here) but the real session cannot start it, as on a host whose
    onnxruntime-gpu lacks its CUDA/cuDNN libraries."""
    requested = []
    real_session = onnxruntime.InferenceSession

    def recording_session(model, providers):
        requested.append(providers)
        return real_session(model, providers=providers)

    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: CUDA_BUILD)
    monkeypatch.setattr(onnxruntime, "InferenceSession", recording_session)
    with caplog.at_level(logging.WARNING, logger=onnx_probe.__name__):
        line = onnx_probe.describe_onnx_runtime()
    assert requested == [CUDA_BUILD]
    assert line == "onnx session providers=CPUExecutionProvider"
    assert "!!!" in caplog.text and "got only CPUExecutionProvider" in caplog.text


def test_a_session_on_cuda_is_reported_quietly(monkeypatch, caplog):
    class CudaSession:
        def __init__(self, model, providers):
            self.providers = providers

        def get_providers(self):
            return self.providers

    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: CUDA_BUILD)
    monkeypatch.setattr(onnxruntime, "InferenceSession", CudaSession)
    with caplog.at_level(logging.WARNING, logger=onnx_probe.__name__):
        line = onnx_probe.describe_onnx_runtime()
    assert line == "onnx session providers=CUDAExecutionProvider,CPUExecutionProvider"
    assert caplog.text == ""


def test_a_failed_probe_is_reported_and_the_worker_still_starts(monkeypatch, caplog):
    def broken_session(model, providers):
        raise RuntimeError("CUDA driver version is insufficient")

    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: CUDA_BUILD)
    monkeypatch.setattr(onnxruntime, "InferenceSession", broken_session)
    with caplog.at_level(logging.WARNING, logger=onnx_probe.__name__):
        line = onnx_probe.describe_onnx_runtime()
    assert line.startswith("onnx session providers=failed") and "driver version" in caplog.text


def test_the_worker_start_line_carries_the_probe(monkeypatch):
    from workers import inference

    monkeypatch.setattr(onnx_probe, "describe_onnx_runtime", lambda: "onnx session providers=probed")
    assert inference.describe_runtime().endswith("; onnx session providers=probed")
