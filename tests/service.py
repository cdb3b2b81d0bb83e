"""The real service in subprocesses, as a user starts it: `pixelforge serve` on a free loopback port."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveService:
    """`pixelforge serve` with its own instance folder; cli() runs `pixelforge …` against the same folder."""

    def __init__(self, instance: Path, env: dict | None = None, job_workers: int = 1):
        self.instance = Path(instance)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        # no test downloads weights: serve's first-start pull is on only where a test asks for it
        self.env = {**os.environ, "PIXELFORGE_INSTANCE": str(self.instance), "PYTHONUNBUFFERED": "1",
                    "PIXELFORGE_PULL_MODELS_ON_START": "false", **(env or {})}
        if "REDIS_URL" not in (env or {}):  # the service starts its own embedded Redis
            self.env.pop("REDIS_URL", None)
        self.job_workers = job_workers
        self.serve_args: list[str] = []  # more `serve` options (--offline, --pull-models)
        self.process: subprocess.Popen | None = None
        self.log_path = self.instance.parent / f"serve-{self.port}.log"

    def start(self, timeout: float = 120) -> "LiveService":
        self.instance.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pixelforge.cli", "serve", "--port", str(self.port),
             "--job-workers", str(self.job_workers), *self.serve_args],
            env=self.env, cwd=self.instance.parent, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"pixelforge serve exited early:\n{self.log()}")
            try:
                if requests.get(self.base + "/readyz", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"pixelforge serve did not become ready:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_for_log(self, text: str, timeout: float = 120) -> str:
        """The service's log once `text` is in it (a worker or the first-start pull reports there), else fail."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            log = self.log()
            if text in log:
                return log
            time.sleep(0.25)
        raise AssertionError(f"no {text!r} in the log:\n{self.log()[-3000:]}")

    def cli(self, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run([sys.executable, "-m", "pixelforge.cli", *args], env=self.env, input=stdin,
                                capture_output=True, text=True, timeout=120)
        if check and result.returncode != 0:
            raise RuntimeError(f"pixelforge {' '.join(args)} failed: {result.stderr}")
        return result

    def user_with_key(self, email: str, plan: str = "pro", credits: int = 10) -> str:
        self.cli("users", "create", email, "--plan", plan, "--credits", str(credits))
        return self.cli("keys", "create", email).stdout.strip()

    def worker_pids(self) -> list[int]:
        """PIDs of this service's job workers (children of the supervisor)."""
        out = subprocess.run(["pgrep", "-P", str(self.process.pid), "-f", "pixelforge.cli worker"],
                             capture_output=True, text=True).stdout
        return [int(pid) for pid in out.split()]

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
