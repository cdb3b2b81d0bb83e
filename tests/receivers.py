"""Small HTTP servers on loopback for outbound tests: a webhook receiver that records what it gets and answers
from a script, and a file server for image_url inputs."""
from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    method: str
    path: str
    headers: dict
    body: bytes
    at: float = field(default_factory=time.time)


class Receiver:
    """An HTTP server on host:port (0 = any free port) in a thread. `answers` is a list of (status, headers,
    body) used in turn (the last one repeats); every request is recorded in `requests`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, answers=None, delay: float = 0.0):
        self.requests: list[Received] = []
        self.answers = list(answers or [(200, {}, b"ok")])
        self.delay = delay
        self.arrived = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self):
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                receiver.requests.append(Received(self.command, self.path, {k.lower(): v for k, v in
                                                                               self.headers.items()}, body))
                receiver.arrived.set()
                if receiver.delay:
                    time.sleep(receiver.delay)
                index = min(len(receiver.requests), len(receiver.answers)) - 1
                status, headers, payload = receiver.answers[index]
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _handle

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.host, self.port = host, self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> "Receiver":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, count: int = 1, timeout: float = 20.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.requests


def verify_standard_webhook(secret: str, headers: dict, body: bytes, tolerance: float = 300) -> bool:
    """The receiver's side of Standard Webhooks, written from the spec (not from our sender)."""
    key = base64.b64decode(secret.split("_", 1)[1])
    msg_id, timestamp = headers["webhook-id"], headers["webhook-timestamp"]
    if abs(time.time() - int(timestamp)) > tolerance:
        return False
    expected = base64.b64encode(hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest())
    return any(hmac.compare_digest(part.split(",", 1)[1].encode(), expected)
               for part in headers["webhook-signature"].split(" ") if part.startswith("v1,"))
