"""Does a model file (or folder) load the way its engine will load it? `pixelforge models add` refuses what does
not, verified or not, and `models verify` asks the same of installs no published checksum vouches for: a checksum
only proves a file is the one someone published, and a custom file (or a mirror's HTML error page) has none.

Each check opens the file with the engine's own loader on the CPU: spandrel (TorchScript for a LaMa .pt, as
inference/erase.py), ONNX Runtime for rembg's graphs, cv2.FaceDetectorYN for YuNet, and for a diffusers folder
its configs and the safetensors headers of its weights (loading a whole pipeline would take minutes). Heavy
imports happen inside the checks, so importing this module stays cheap.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

from pixelforge import model_registry as reg

INPAINT_UNET_CHANNELS = 9  # image latents (4) + masked-image latents (4) + the mask (1)
PIPELINE_PARTS = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")
WEIGHTED_PARTS = ("unet", "vae", "text_encoder")


class ModelWillNotLoad(ValueError):
    """The file is not a model its engine can load (or not the kind the entry needs)."""


def check_loads(entry: reg.ModelEntry, path: Path) -> list[str]:
    """Load ``path`` (a file, or a folder for a folder model) as ``entry``'s engine would; ModelWillNotLoad if it
    cannot. Returns notes worth showing (e.g. a scale that differs from the entry's)."""
    checks = {reg.LOAD_SPANDREL: _check_spandrel, reg.LOAD_REMBG_U2NET: _check_rembg_onnx,
              reg.LOAD_REMBG_ISNET: _check_rembg_onnx, reg.LOAD_OPENCV_YUNET: _check_yunet,
              reg.LOAD_DIFFUSERS_INPAINT: _check_diffusers_folder}
    check = checks.get(entry.loader)
    if check is None:
        raise ModelWillNotLoad(f"{entry.name}: no load check for loader {entry.loader!r}")
    return check(entry, Path(path))


def _check_spandrel(entry: reg.ModelEntry, path: Path) -> list[str]:
    """An architecture spandrel knows, for the entry's purpose, taking RGB (the engines feed 3 channels)."""
    from spandrel import ModelLoader, UnsupportedModelError

    try:
        with warnings.catch_warnings():  # spandrel tries torch.jit.load first for a .pt, which torch deprecates
            warnings.simplefilter("ignore", FutureWarning)
            descriptor = ModelLoader(device="cpu").load_from_file(path)
    except UnsupportedModelError as error:
        if path.suffix == ".pt" and Path(entry.files[0].path).suffix == ".pt":
            return _check_torchscript(path)  # the released big-lama.pt is TorchScript (see inference/erase.py)
        raise ModelWillNotLoad(f"{path.name} does not load: spandrel knows no such architecture ({error})") from None
    except Exception as error:  # noqa: BLE001 - whatever the reader said is the reason
        raise ModelWillNotLoad(f"{path.name} does not load: it is not a model spandrel can load ({error})") from None
    wanted = spandrel_purpose(entry)
    if wanted and descriptor.purpose != wanted:
        raise ModelWillNotLoad(f"{path.name} is a {descriptor.purpose} model; {entry.name} needs {wanted}")
    if descriptor.input_channels != 3:
        raise ModelWillNotLoad(f"{path.name} takes {descriptor.input_channels}-channel input; "
                               f"{entry.name} needs a 3-channel (RGB) model")
    if entry.scale and getattr(descriptor, "scale", entry.scale) != entry.scale:
        return [f"{path.name} is {descriptor.scale}x; output is resized to the requested scale"]
    return []


def spandrel_purpose(entry: reg.ModelEntry) -> str | None:
    """What spandrel must call the entry's architecture ("SR", "FaceSR", "Inpainting"): its operation's spec says."""
    from pixelforge.operations import OPERATIONS

    operation = OPERATIONS.get(entry.operation)
    return operation.model.spandrel_purpose if operation is not None and operation.model else None


def _check_torchscript(path: Path) -> list[str]:
    import torch

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            torch.jit.load(str(path), map_location="cpu")
    except Exception as error:  # noqa: BLE001
        raise ModelWillNotLoad(f"{path.name} does not load: neither spandrel nor TorchScript reads it "
                               f"({error})") from None
    return []


def _check_rembg_onnx(entry: reg.ModelEntry, path: Path) -> list[str]:
    """An ONNX graph ONNX Runtime opens, whose first input is an image batch (N, 3, H, W), as rembg feeds it."""
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as error:  # noqa: BLE001 - ONNX Runtime's own reason
        raise ModelWillNotLoad(f"{path.name} does not load: ONNX Runtime cannot open it ({error})") from None
    inputs, outputs = session.get_inputs(), session.get_outputs()
    shape = inputs[0].shape if inputs else []
    if len(shape) != 4 or not outputs or (isinstance(shape[1], int) and shape[1] != 3):
        raise ModelWillNotLoad(f"{path.name} takes input of shape {shape}; {entry.name} needs a 3-channel image "
                               "batch (N, 3, H, W) and at least one output")
    return []


def _check_yunet(entry: reg.ModelEntry, path: Path) -> list[str]:
    """cv2.FaceDetectorYN opens it and runs it on a blank image (it fetches YuNet's outputs by name then)."""
    import cv2
    import numpy as np

    from workers.inference.faces import load_detector

    try:
        detector = load_detector(path, (64, 64))
        detector.detect(np.zeros((64, 64, 3), np.uint8))
    except cv2.error as error:
        reason = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
        raise ModelWillNotLoad(f"{path.name} does not load as a YuNet face detector ({reason})") from None
    return []


def _read_json(path: Path, folder: Path) -> dict:
    name = path.relative_to(folder).as_posix()
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelWillNotLoad(f"{name} is missing") from None
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ModelWillNotLoad(f"{name} does not load as JSON ({error})") from None
    if not isinstance(value, dict):
        raise ModelWillNotLoad(f"{name} is not a JSON object")
    return value


def _check_safetensors(path: Path, folder: Path) -> None:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="numpy") as weights:
            weights.keys()
    except Exception as error:  # noqa: BLE001 - the header is not a safetensors header
        raise ModelWillNotLoad(f"{path.relative_to(folder).as_posix()} does not load as safetensors "
                               f"({error})") from None


def _check_diffusers_folder(entry: reg.ModelEntry, folder: Path) -> list[str]:
    """A StableDiffusionInpaintPipeline folder: the pipeline's parts, an inpainting UNet (9 input channels), and
    safetensors weights for each weighted part (the worker loads with use_safetensors=True)."""
    index = _read_json(folder / "model_index.json", folder)
    missing = [part for part in PIPELINE_PARTS if part not in index]
    if missing:
        raise ModelWillNotLoad(f"model_index.json lists no {', '.join(missing)}: not a Stable Diffusion pipeline")
    configs = {part: _read_json(folder / part / "config.json", folder) for part in WEIGHTED_PARTS}
    channels = configs["unet"].get("in_channels")
    if channels != INPAINT_UNET_CHANNELS:
        raise ModelWillNotLoad(f"unet/config.json has in_channels {channels}; an inpainting UNet takes "
                               f"{INPAINT_UNET_CHANNELS} (a text-to-image model cannot inpaint)")
    for part in WEIGHTED_PARTS:
        weights = sorted((folder / part).glob("*.safetensors"))
        if not weights:
            raise ModelWillNotLoad(f"{part}/ has no .safetensors weights")
        for path in weights:
            _check_safetensors(path, folder)
    return []
