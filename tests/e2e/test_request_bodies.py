"""Request bodies on the real service: slow senders hold no request thread; chunked uploads are read."""
from __future__ import annotations

import io
import select
import socket
import threading
import time

import pytest
import requests
from PIL import Image

from service import LiveService

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

BODY_TIMEOUT = 8
UPLOAD_LIMIT = 1_000_000


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    env = {"PIXELFORGE_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT), "PIXELFORGE_BODY_IDLE_TIMEOUT_SECONDS": "4",
           "PIXELFORGE_MAX_UPLOAD_BYTES": str(UPLOAD_LIMIT)}
    with LiveService(tmp_path_factory.mktemp("bodies") / "instance", env=env) as live:
        yield live


@pytest.fixture(scope="module")
def key(service):
    return service.user_with_key("bodies@example.com", credits=10)


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 40, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


class SlowSenders:
    """Sockets that send a form's headers, then its 70-byte body at one byte per second each (loopback only)."""

    def __init__(self, port: int, count: int):
        self.sockets, self.started = [], time.monotonic()
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(b"POST /dashboard/keys HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 70\r\n\r\n")
            sock.setblocking(False)
            self.sockets.append(sock)
        self.outcome: dict[int, tuple[str, float]] = {}  # socket index -> (first reply bytes or "closed", when)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._trickle, daemon=True)

    def _trickle(self) -> None:
        deadline = self.started + BODY_TIMEOUT + 6  # bounded: the body timeout and a margin, never longer
        next_byte = time.monotonic()
        while time.monotonic() < deadline and len(self.outcome) < len(self.sockets) and not self.stop.is_set():
            if time.monotonic() >= next_byte:
                next_byte += 1.0
                for index, sock in enumerate(self.sockets):
                    if index not in self.outcome:
                        self._send_one_byte(index, sock)
            open_sockets = [s for i, s in enumerate(self.sockets) if i not in self.outcome]
            readable, _, _ = select.select(open_sockets, [], [], max(0.0, next_byte - time.monotonic()))
            for sock in readable:
                self._read_reply(self.sockets.index(sock), sock)

    def _send_one_byte(self, index: int, sock: socket.socket) -> None:
        try:
            sock.send(b"a")
        except OSError:
            self.outcome[index] = ("closed", time.monotonic() - self.started)

    def _read_reply(self, index: int, sock: socket.socket) -> None:
        try:
            data = sock.recv(4096)
        except OSError:
            data = b""
        reply = data.decode(errors="replace") if data else "closed"
        self.outcome[index] = (reply, time.monotonic() - self.started)

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        for sock in self.sockets:
            sock.close()


def timed_get(url: str, **kwargs) -> tuple[int, float]:
    started = time.monotonic()
    try:
        status = requests.get(url, timeout=5, **kwargs).status_code
    except requests.RequestException:
        status = -1
    return status, time.monotonic() - started


def test_a_hundred_slow_bodies_leave_the_site_answering(service, key):
    """100 anonymous bodies at 1 byte/s: /healthz and an API poll still answer within 1 s; each slow request
    gets 408 (or is closed) within the body timeout."""
    headers = {"Authorization": f"Bearer {key}"}
    job = requests.post(f"{service.base}/api/v1/enhance", headers=headers,
                        files={"image": ("a.png", png_bytes())}, timeout=30).json()
    slow = SlowSenders(service.port, 100)
    slow.thread.start()
    try:
        time.sleep(2)  # every slow request has reached the server and started its body
        probes = []
        for _ in range(4):
            probes.append(("healthz", *timed_get(f"{service.base}/healthz")))
            probes.append(("poll", *timed_get(f"{service.base}/api/v1/jobs/{job['job_id']}", headers=headers)))
            time.sleep(0.5)
        slow.thread.join(BODY_TIMEOUT + 10)
    finally:
        slow.close()
    assert all(status == 200 and elapsed < 1.0 for _, status, elapsed in probes), probes
    assert len(slow.outcome) == 100, f"{100 - len(slow.outcome)} slow requests were still open"
    late = [(reply[:40], round(when, 1)) for reply, when in slow.outcome.values()
            if not (reply.startswith("HTTP/1.1 408") or reply == "closed") or when > BODY_TIMEOUT + 3]
    assert not late, late


def multipart(fields: dict[str, tuple[str, bytes]], boundary: str = "pixelforgeboundary") -> tuple[bytes, str]:
    parts = []
    for name, (filename, data) in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                     f"Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def in_chunks(data: bytes, size: int = 4096):
    for start in range(0, len(data), size):
        yield data[start:start + size]


def test_a_chunked_upload_is_read(service, key):
    """`curl -H 'Transfer-Encoding: chunked' -F image=@photo.png …/enhance` is accepted, not 422 "image is required"."""
    body, content_type = multipart({"image": ("photo.png", png_bytes())})
    response = requests.post(f"{service.base}/api/v1/enhance", data=in_chunks(body),
                             headers={"Authorization": f"Bearer {key}", "Content-Type": content_type}, timeout=30)
    assert response.request.headers.get("Transfer-Encoding") == "chunked"
    assert response.status_code == 202, response.text


def test_a_chunked_body_over_the_limit_is_413(service, key):
    body, content_type = multipart({"image": ("big.png", png_bytes() + b"\0" * (UPLOAD_LIMIT + 1000))})
    before = requests.get(f"{service.base}/api/v1/account", headers={"Authorization": f"Bearer {key}"}).json()
    response = requests.post(f"{service.base}/api/v1/enhance", data=in_chunks(body, 65536),
                             headers={"Authorization": f"Bearer {key}", "Content-Type": content_type}, timeout=30)
    assert response.status_code == 413, response.text
    assert response.json()["error"]["code"] == "upload_too_large"
    after = requests.get(f"{service.base}/api/v1/account", headers={"Authorization": f"Bearer {key}"}).json()
    assert after["credits"] == before["credits"]
