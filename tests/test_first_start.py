"""#18: the first-start pull of `serve` (pixelforge/cli/first_start.py) as serve runs it, against files on a loopback
HTTP server checked by SHA-256; when a start pulls, and what it says serves each operation afterwards."""
import dataclasses
import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pixelforge.cli import first_start
from pixelforge import model_registry as reg

PAYLOAD = b"u2net-sized stand-in " * 5000
UNREACHABLE = "http://127.0.0.1:9/file"  # the discard port: refused at once


@pytest.fixture
def file_server():
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/file"
    server.shutdown()
    server.server_close()


def registry_with(urls: dict[str, str]) -> reg.ModelRegistry:
    """The real registry, with the named entries' single file served from the given URL (PAYLOAD's checksum)."""
    registry = reg.ModelRegistry()
    for entry in reg.REGISTRY:
        if entry.name in urls:
            spec = dataclasses.replace(entry.files[0], url=urls[entry.name], sha256=hashlib.sha256(PAYLOAD).hexdigest(),
                                       size=len(PAYLOAD), md5=None, mirrors=())
            entry = dataclasses.replace(entry, files=(spec,))
        registry.add(entry)
    return registry


def test_the_pull_installs_what_a_source_gives_and_says_what_serves_each_operation(tmp_path, monkeypatch, capsys,
                                                                                  file_server):
    monkeypatch.setattr(reg, "REGISTRY", registry_with({"rembg-u2net": file_server, "yunet-2023mar": UNREACHABLE,
                                                        "gfpgan-1.4": file_server}))
    instance, models = tmp_path / "instance", tmp_path / "instance" / "models"
    instance.mkdir()
    report = first_start.first_start_pull(instance, models, "cpu", names=("rembg-u2net", "gfpgan-1.4"),
                                          show_progress=False)
    assert report.installed == ["rembg-u2net"]
    assert set(report.failed) == {"yunet-2023mar", "gfpgan-1.4"}
    assert (models / "rembg-u2net" / "u2net.onnx").read_bytes() == PAYLOAD
    assert sorted(p.name for p in models.iterdir()) == ["rembg-u2net"]  # the failed ones left no folder
    said = capsys.readouterr().err
    assert "gfpgan-1.4 not pulled: needs yunet-2023mar, which could not be fetched" in said
    assert "remove-background  model rembg-u2net" in said
    assert "restore-face       classical (gfpgan-1.4 could not be fetched (above)" in said
    assert "upscale 4x         classical (realesr-general-x4v3 is not installed" in said
    recorded = json.loads((instance / first_start.MARKER).read_text())
    assert recorded["installed"] == ["rembg-u2net"] and set(recorded["failed"]) == {"yunet-2023mar", "gfpgan-1.4"}
    again = first_start.pull_default_models(models, names=("rembg-u2net",), show_progress=False)
    assert again.present == ["rembg-u2net"] and again.installed == []


@pytest.mark.parametrize("marker, enabled, offline, force, pulls, says", [
    (None, True, False, False, True, ""),  # the first start
    (None, True, True, False, False, "--offline"),
    (None, False, False, False, False, "PULL_MODELS_ON_START is off"),
    ({"failed": {}}, True, False, False, False, ""),  # a later start, after a pull that worked: quiet
    ({"failed": {"lama": "x"}}, True, False, False, False, "`pixelforge serve --pull-models` tries again"),
    ({"failed": {"lama": "x"}}, True, False, True, True, ""),  # asked to
    ({"failed": {}}, False, False, True, True, ""),  # the flag outranks the setting
])
def test_when_a_start_pulls(tmp_path, marker, enabled, offline, force, pulls, says):
    if marker is not None:
        (tmp_path / first_start.MARKER).write_text(json.dumps(marker))
    pull, why_not = first_start.pull_decision(tmp_path, tmp_path / "models", enabled, offline, force)
    assert pull is pulls
    assert (says in why_not) if says else why_not == ""


def test_a_later_start_names_only_the_failed_models_still_missing(tmp_path):
    """Seen as a new user: after `models add yunet-2023mar …` every start still said yunet-2023mar could not be
    fetched, while `models list` called it installed."""
    failed = {"yunet-2023mar": "cannot reach …", "gfpgan-1.4": "needs yunet-2023mar, which could not be fetched"}
    (tmp_path / first_start.MARKER).write_text(json.dumps({"failed": failed}))
    models = tmp_path / "models"
    (models / "yunet-2023mar").mkdir(parents=True)
    (models / "yunet-2023mar" / "face_detection_yunet_2023mar.onnx").write_bytes(b"added by hand")
    pull, why_not = first_start.pull_decision(tmp_path, models, True, False, False)
    assert not pull and why_not.startswith("models: gfpgan-1.4 could not be fetched on the first start")
    (models / "gfpgan-1.4").mkdir()
    (models / "gfpgan-1.4" / "GFPGANv1.4.pth").write_bytes(b"added by hand")
    assert first_start.pull_decision(tmp_path, models, True, False, False) == (False, "")


def test_the_defaults_bring_what_they_need_first():
    assert first_start.with_requirements(first_start.DEFAULT_MODELS) == [
        "rembg-u2net", "realesr-general-x4v3", "yunet-2023mar", "gfpgan-1.4", "lama"]
    for name in first_start.DEFAULT_MODELS:  # every default is checked by a published SHA-256 and needs no consent
        entry = reg.REGISTRY.get(name)
        assert all(f.sha256 and f.sources for f in entry.files)
        assert not (entry.licence.non_commercial or entry.licence.use_restricted)
