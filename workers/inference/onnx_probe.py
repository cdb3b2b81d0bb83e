"""Which execution providers an ONNX Runtime session really gets on this host, checked once at worker start.

``onnxruntime.get_available_providers()`` lists CUDA whenever onnxruntime-gpu is installed, even when the
CUDA/cuDNN libraries it needs are missing; a session that asks for CUDA then quietly runs on the CPU. So on
a build that offers CUDA the worker opens one session on a one-node graph (Identity) and logs what it got;
no model weights are loaded (models load lazily, on their first job). A CPU-only build has nothing to probe.
The graph is embedded as bytes because ``onnx`` is only a test dependency; a test rebuilds it with onnx's
helper and compares.
"""
from __future__ import annotations

import logging

log = logging.getLogger(__name__)

CUDA = "CUDAExecutionProvider"
REQUESTED = [CUDA, "CPUExecutionProvider"]

# helper.make_model(Identity "x" -> "y", float[1], graph "provider_probe", opset 13, ir_version 8), serialized.
PROBE_MODEL = (b'\x08\x08:D\n\x10\n\x01x\x12\x01y"\x08Identity\x12\x0eprovider_probeZ\x0f\n\x01x\x12\n\n\x08\x08'
               b'\x01\x12\x04\n\x02\x08\x01b\x0f\n\x01y\x12\n\n\x08\x08\x01\x12\x04\n\x02\x08\x01B\x04\n\x00\x10\r')


def probe_session_providers() -> list[str]:
    """The providers a session asking for CUDA, then CPU, actually gets here."""
    import onnxruntime as ort

    return ort.InferenceSession(PROBE_MODEL, providers=REQUESTED).get_providers()


def describe_onnx_runtime() -> str:
    """The ONNX Runtime part of the worker's start-up line: the probed session's providers when CUDA is
    offered (warning loudly when the session fell back to the CPU), else the available ones."""
    try:
        import onnxruntime as ort
    except ImportError:
        return "onnxruntime=missing"
    available = ort.get_available_providers()
    if CUDA not in available:
        return f"onnx providers={','.join(available)} (no CUDA build, not probed)"
    try:
        active = probe_session_providers()
    except Exception as error:  # noqa: BLE001 - a failed probe is reported, the worker still starts
        log.warning("!!! onnxruntime could not open a session asking for %s: %s", CUDA, error)
        return f"onnx session providers=failed ({error})"
    if CUDA not in active:
        log.warning("!!! onnxruntime offers %s but a session asking for it got only %s (CUDA/cuDNN libraries "
                    "missing or of another major version?): background removal cannot use the GPU; see "
                    "onnxruntime's messages above", CUDA, ", ".join(active))
    return f"onnx session providers={','.join(active)}"
