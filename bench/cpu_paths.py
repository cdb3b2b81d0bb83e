"""The ways one network can run on a CPU, each as a callable over float32 NCHW inputs, for bench/cpu_speed.py.

torch as the worker ran it before #18 (float32, contiguous), channels_last, channels_last with bf16 autocast or
bf16 weights, ONNX Runtime (float32, and int8 static quantisation calibrated on the same input), and OpenVINO
(float32 and its bf16 precision hint) when it is installed. A path that cannot run here (no bf16 in the CPU, an
operator an exporter lacks, a package not installed) raises PathUnavailable with the reason.
"""
from __future__ import annotations

import contextlib
import copy
import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Callable

import numpy as np

Runner = Callable[[list], np.ndarray]  # float32 NCHW inputs (numpy) -> the network's first output, float32


class PathUnavailable(RuntimeError):
    """This path cannot run this model on this machine; the message says why."""


def _as_float32(output) -> np.ndarray:
    tensor = output[0] if isinstance(output, (tuple, list)) else output
    return tensor.float().numpy()


def torch_path(module, *, channels_last: bool, bf16: str | None = None) -> Runner:
    """``bf16``: None (float32), "autocast" (float32 weights, bf16 compute) or "weights" (bf16 weights)."""
    import torch

    from workers.cpu_precision import native_cpu_bf16
    from workers.device import to_channels_last

    if bf16 and not native_cpu_bf16():
        raise PathUnavailable("this CPU has no native bf16")
    module = copy.deepcopy(module).eval()
    if channels_last:
        to_channels_last(module)
    if bf16 == "weights":
        module = module.to(torch.bfloat16)
    dtype = torch.bfloat16 if bf16 == "weights" else torch.float32
    layout = torch.channels_last if channels_last else torch.contiguous_format

    def run(inputs: list) -> np.ndarray:
        tensors = [torch.from_numpy(x).to(dtype).contiguous(memory_format=layout) for x in inputs]
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16 == "autocast"):
            return _as_float32(module(*tensors))

    return run


@contextlib.contextmanager
def _quiet_output():
    """Silence stdout and stderr at the file-descriptor level (C++ code writes there directly)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 1)
        os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            for fd, copy_ in zip((1, 2), saved):
                os.dup2(copy_, fd)
                os.close(copy_)


def export_onnx(module, inputs: list, folder: Path) -> Path:
    """The module as an ONNX file (TorchScript exporter, opset 17: the dynamo one needs onnxscript)."""
    import torch

    path = folder / "model.onnx"
    names = [f"input{i}" for i in range(len(inputs))]
    # not inference_mode: the tracer then fails on views; the exporter prints the whole graph when it fails
    with warnings.catch_warnings(), torch.no_grad(), _quiet_output():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(module.eval(), tuple(torch.from_numpy(x) for x in inputs), str(path), dynamo=False,
                              opset_version=17, input_names=names, output_names=["output"])
        except Exception as error:  # noqa: BLE001 - the exporter's reason is the row's detail
            raise PathUnavailable(f"ONNX export failed: {str(error).splitlines()[0][:160]}") from None
    return path


def onnxruntime_path(onnx_file: Path, threads: int) -> Runner:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return lambda inputs: session.run(None, dict(zip(names, inputs)))[0].astype(np.float32)


def quantize_int8(onnx_file: Path, calibration: list) -> Path:
    """Static int8 (QDQ, per-channel weights) calibrated on ``calibration``: ONNX Runtime's CPU int8 path."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class OneBatch(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{f"input{i}": x for i, x in enumerate(calibration)}])

        def get_next(self):
            return next(self.batches, None)

    target = onnx_file.with_name("model.int8.onnx")
    try:
        with _quiet_output():  # it advises pre-processing through the root logger on every call
                quantize_static(str(onnx_file), str(target), OneBatch(), quant_format=QuantFormat.QDQ,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True)
    except Exception as error:  # noqa: BLE001
        raise PathUnavailable(f"int8 quantisation failed: {str(error).splitlines()[0][:160]}") from None
    return target


def openvino_path(onnx_file: Path, threads: int, precision: str) -> Runner:
    """OpenVINO's CPU plugin on the ONNX file; ``precision`` is its INFERENCE_PRECISION_HINT (f32 or bf16)."""
    try:
        import openvino as ov
    except ImportError:
        raise PathUnavailable("openvino not installed (pip install openvino)") from None
    core = ov.Core()
    if precision == "bf16" and "BF16" not in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
        raise PathUnavailable("OpenVINO reports no bf16 on this CPU")
    compiled = core.compile_model(str(onnx_file), "CPU", {"INFERENCE_NUM_THREADS": threads,
                                                          "INFERENCE_PRECISION_HINT": precision,
                                                          "PERFORMANCE_HINT": "LATENCY"})
    request = compiled.create_infer_request()

    def run(inputs: list) -> np.ndarray:
        request.infer(inputs)
        return np.asarray(request.get_output_tensor(0).data, dtype=np.float32).copy()

    return run


FLOAT32_BEFORE = "float32 (before #18)"
PATHS = (FLOAT32_BEFORE, "channels_last", "bf16 autocast", "bf16 weights", "channels_last + bf16 autocast",
         "channels_last + bf16 weights", "ONNX Runtime float32", "ONNX Runtime int8 (static)", "OpenVINO float32",
         "OpenVINO bf16", "OpenVINO int8 (static)")


def build_paths(module, inputs: list, threads: int, calibration: list | None = None, folder: Path | None = None,
                wanted: tuple[str, ...] = PATHS) -> dict[str, Callable[[], Runner]]:
    """Path name -> a builder of its runner (built lazily, so a failing export costs only its own rows). int8 is
    calibrated on ``calibration`` (other pixels than ``inputs``, or its PSNR flatters it), else on ``inputs``."""
    folder = folder or Path(tempfile.mkdtemp(prefix="pixelforge-cpu-speed-"))
    files: dict[str, Path | PathUnavailable] = {}

    def onnx_file(int8: bool = False) -> Path:
        key = "int8" if int8 else "float32"
        if key not in files:
            try:
                files[key] = (quantize_int8(onnx_file(), calibration or inputs) if int8
                              else export_onnx(module, inputs, folder))
            except PathUnavailable as error:
                files[key] = error  # each path that needs the file reports the same reason, without retrying
        if isinstance(files[key], PathUnavailable):
            raise PathUnavailable(str(files[key]))
        return files[key]

    builders = {
        PATHS[0]: lambda: torch_path(module, channels_last=False),
        PATHS[1]: lambda: torch_path(module, channels_last=True),
        PATHS[2]: lambda: torch_path(module, channels_last=False, bf16="autocast"),
        PATHS[3]: lambda: torch_path(module, channels_last=False, bf16="weights"),
        PATHS[4]: lambda: torch_path(module, channels_last=True, bf16="autocast"),
        PATHS[5]: lambda: torch_path(module, channels_last=True, bf16="weights"),
        PATHS[6]: lambda: onnxruntime_path(onnx_file(), threads),
        PATHS[7]: lambda: onnxruntime_path(onnx_file(int8=True), threads),
        PATHS[8]: lambda: openvino_path(onnx_file(), threads, "f32"),
        PATHS[9]: lambda: openvino_path(onnx_file(), threads, "bf16"),
        PATHS[10]: lambda: openvino_path(onnx_file(int8=True), threads, "f32"),
    }
    return {name: builders[name] for name in wanted}
