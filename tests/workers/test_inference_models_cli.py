"""`pixelforge models` list/add/verify/pull through click's CliRunner, with a stand-in app factory and a
local HTTP server (127.0.0.1) for checksum and resume logic. No network beyond loopback."""
import hashlib
import http.server
import importlib
import threading
import types
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask

import model_factories as mf
from workers import registry as reg

cli = importlib.import_module("pixelforge.cli.models")  # the package re-exports the group as `models`
PAYLOAD = bytes(range(256)) * 4096  # 1 MiB


@pytest.fixture
def models_dir(tmp_path, monkeypatch):
    """Point the group at a temporary folder through a stand-in ``pixelforge.create_app``."""
    folder = tmp_path / "models"
    folder.mkdir()

    def create_app():
        app = Flask("stand-in")
        app.config["MODELS_DIR"] = str(folder)
        return app

    import pixelforge

    monkeypatch.setattr(pixelforge, "create_app", create_app, raising=False)
    monkeypatch.setattr(cli, "RETRY_BACKOFF_S", 0.0)
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
