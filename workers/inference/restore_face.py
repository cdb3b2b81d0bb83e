"""restore-face: detect faces with YuNet, restore each aligned face with GFPGAN v1.4 (through spandrel),
mix with the original face by ``fidelity``, and paste it back. The rest of the photo is untouched; a photo with
no face is refused (NoFaceFound), not charged for an unchanged copy."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from workers.engines.base import EngineError, EngineInput, EngineOutput, NoFaceFound
from workers.inference import faces as geometry
from pixelforge.model_registry import REGISTRY, installed_file

DETECTOR = "yunet-2023mar"


def _file(name: str, folder: Path) -> Path:
    """The model's installed file in ``folder`` (a GFPGAN added as .safetensors keeps that suffix)."""
    entry = REGISTRY.get(name)
    return installed_file(folder, entry, entry.files[0])


def load_gfpgan(path: Path):
    """The GFPGAN descriptor on the policy device/dtype (bf16 on CUDA: spandrel marks it not fp16-safe; bf16
    autocast on a CPU with bf16 in hardware)."""
    from spandrel import ModelLoader

    from workers.device import prepare

    descriptor = ModelLoader().load_from_file(path)
    if descriptor.purpose != "FaceSR":
        raise EngineError(f"{path.name} is not a face restoration model ({descriptor.architecture.name})")
    return prepare(descriptor)


def restore_aligned(descriptor, face: np.ndarray) -> np.ndarray:
    """One aligned 512x512 RGB uint8 face through GFPGAN, which works in [-1, 1] (spandrel's plain call
    would feed [0, 1] and clamp), as float32 HxWx3 in [0, 255]; retried in fp32 on NaN/Inf."""
    import torch

    from workers.cpu_precision import cpu_forward, cpu_input, reduced_precision
    from workers.device import NonFiniteOutput, run_with_fp32_fallback

    def run():
        x = torch.from_numpy(np.ascontiguousarray(face)).permute(2, 0, 1)[None]
        x = cpu_input(descriptor, x.to(descriptor.device, descriptor.dtype).div(127.5).sub(1))
        with torch.inference_mode(), cpu_forward(descriptor):
            out = descriptor.model(x, return_rgb=False)[0]
        if not bool(torch.isfinite(out).all()):
            if reduced_precision(descriptor):
                raise NonFiniteOutput("GFPGAN produced NaN/Inf")
            out = torch.nan_to_num(out)
        return out[0].float().add(1).mul(127.5).clamp(0, 255).permute(1, 2, 0).cpu().numpy()

    return run_with_fp32_fallback(descriptor, run)


def run_restore_face(inp: EngineInput, name: str, models_dir: Path) -> EngineOutput:
    """Restore every detected face; info {"faces_detected": N, "faces_restored": M, "fidelity": f}; NoFaceFound
    when there is none."""
    from workers.inference import warm_model

    fidelity = float(inp.params.get("fidelity", 0.5))
    detector = warm_model(DETECTOR, models_dir, "yunet",
                          lambda folder: geometry.load_detector(_file(DETECTOR, folder)))
    rgb = np.array(inp.image.convert("RGB"))
    found = geometry.detect_faces(detector, rgb)
    if not found:
        raise NoFaceFound()
    inp.progress(0.1)
    restored = 0
    gfpgan = warm_model(name, models_dir, "spandrel", lambda folder: load_gfpgan(_file(name, folder)))
    for index, face in enumerate(found):
        matrix = geometry.alignment_matrix(face.landmarks)
        if matrix is None:
            continue
        aligned = geometry.warp_face(rgb, matrix)
        result = geometry.blend_fidelity(restore_aligned(gfpgan, aligned), aligned, fidelity)
        geometry.paste_face(rgb, result, matrix)
        restored += 1
        inp.progress(0.1 + 0.9 * (index + 1) / len(found))
    if not restored:
        raise NoFaceFound(f"{len(found)} face(s) were detected but none could be aligned for restoration")
    image = Image.fromarray(rgb, "RGB")
    if inp.image.mode == "RGBA":
        image.putalpha(inp.image.getchannel("A"))
    inp.progress(1.0)
    info = {"faces_detected": len(found), "faces_restored": restored, "fidelity": fidelity}
    return EngineOutput(image=image, engine="model", model=name, info=info)
