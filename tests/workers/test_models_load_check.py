"""#12 finding 13: `models add` loads a file the way its engine will and refuses what does not load, verified or
not; `models verify` checks that unverified installs load. An HTML page (a mirror's error page saved as weights)
is the attack; tiny generated models are the files that must still be accepted."""
import importlib
import json

import pytest
from click.testing import CliRunner

import model_factories as mf
from pixelforge import model_registry as reg

cli = importlib.import_module("pixelforge.cli.models")
HTML = b"<!DOCTYPE html><html><head><title>Download</title></head><body>Please sign in</body></html>\n" * 40


@pytest.fixture
def models_dir(tmp_path, monkeypatch):
    """The models group's folder, through its documented variable (read by config.load_settings)."""
    folder = tmp_path / "models"
    folder.mkdir()
    monkeypatch.setenv("PIXELFORGE_MODELS", str(folder))
    return folder


@pytest.fixture
def runner():
    return CliRunner()


def add(runner, name, path):
    return runner.invoke(cli.models, ["add", name, str(path), "--allow-unverified"])


@pytest.mark.parametrize("name", ["rembg-u2net", "rembg-isnet-general-use", "yunet-2023mar", "realesrgan-x4plus",
                                  "gfpgan-1.4", "lama"])
def test_an_html_page_is_not_installed_as_a_model(models_dir, runner, tmp_path, name):
    entry = reg.REGISTRY.get(name)
    page = tmp_path / entry.files[0].path
    page.write_bytes(HTML)
    result = add(runner, name, page)
    assert result.exit_code != 0, result.output
    assert "does not load" in result.output and "not installed" in result.output
    assert not reg.is_installed(name, models_dir)
    assert not (models_dir / name / entry.files[0].path).exists()


def test_verify_fails_an_installed_file_that_does_not_load(models_dir, runner):
    """An HTML page installed before add checked loading (the custom marker records its hash): verify says so."""
    folder = models_dir / "rembg-u2net"
    folder.mkdir()
    page = folder / "u2net.onnx"
    page.write_bytes(HTML)
    (folder / cli.UNVERIFIED_MARKER).write_text(json.dumps({"u2net.onnx": reg.file_digests(page)[0]}))
    result = runner.invoke(cli.models, ["verify"])
    assert result.exit_code != 0
    assert "rembg-u2net: FAILED" in result.output and "does not load" in result.output


@pytest.mark.parametrize("name, write", [
    ("rembg-u2net", lambda path: mf.write_u2net_like_onnx(path, size=64)),
    ("rembg-isnet-general-use", lambda path: mf.write_isnet_like_onnx(path, size=64)),
    ("yunet-2023mar", mf.write_yunet_like_onnx),
])
def test_onnx_models_that_load_are_installed_and_verify(models_dir, runner, tmp_path, name, write):
    path = write(tmp_path / reg.REGISTRY.get(name).files[0].path)
    result = add(runner, name, path)
    assert result.exit_code == 0, result.output
    assert reg.is_installed(name, models_dir)
    checked = runner.invoke(cli.models, ["verify", name])
    assert checked.exit_code == 0 and "ok (custom, unverified)" in checked.output


def test_an_onnx_graph_of_the_wrong_kind_is_refused(models_dir, runner, tmp_path):
    """A valid ONNX file that is not a face detector: cv2.FaceDetectorYN cannot run it, so it is not installed."""
    saliency = mf.write_u2net_like_onnx(tmp_path / "face_detection_yunet_2023mar.onnx", size=64)
    result = add(runner, "yunet-2023mar", saliency)
    assert result.exit_code != 0 and "does not load" in result.output


def test_a_grey_onnx_saliency_model_is_refused(models_dir, runner, tmp_path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Sigmoid", ["input.1"], ["d1"])], "grey",
                              [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 1, 64, 64])],
                              [helper.make_tensor_value_info("d1", TensorProto.FLOAT, [1, 1, 64, 64])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "u2net.onnx"))
    result = add(runner, "rembg-u2net", tmp_path / "u2net.onnx")
    assert result.exit_code != 0 and "3-channel" in result.output


def test_a_diffusers_folder_must_be_an_inpainting_pipeline_with_readable_weights(models_dir, runner, tmp_path):
    good = mf.write_sd_inpainting_skeleton(tmp_path / "good")
    assert add(runner, "sd-inpainting", good).exit_code == 0

    text_to_image = mf.write_sd_inpainting_skeleton(tmp_path / "txt2img", unet_in_channels=4)
    result = add(runner, "sd-inpainting", text_to_image)
    assert result.exit_code != 0 and "in_channels" in result.output and "9" in result.output

    html_unet = mf.write_sd_inpainting_skeleton(tmp_path / "html",
                                                {"unet/diffusion_pytorch_model.safetensors": HTML})
    result = add(runner, "sd-inpainting", html_unet)
    assert result.exit_code != 0 and "does not load" in result.output

    html_index = mf.write_sd_inpainting_skeleton(tmp_path / "html-index")
    (html_index / "model_index.json").write_bytes(HTML)
    result = add(runner, "sd-inpainting", html_index)
    assert result.exit_code != 0 and "model_index.json" in result.output

    installed = models_dir / "sd-inpainting"
    assert (installed / "unet" / "config.json").read_text() == '{"in_channels": 9}'  # the good one stayed
    (installed / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(HTML)
    checked = runner.invoke(cli.models, ["verify", "sd-inpainting"])
    assert checked.exit_code != 0 and "does not load" in checked.output


def test_the_tiny_real_pipeline_folder_is_accepted(models_dir, runner, tmp_path):
    folder = mf.write_tiny_sd_inpainting(tmp_path / "sd")
    result = add(runner, "sd-inpainting", folder)
    assert result.exit_code == 0, result.output
