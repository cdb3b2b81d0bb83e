"""Playground uploads: each user's own folder, the API's size and format rules, a per-user quota, prompt deletion.

Gradio's own upload route keeps every user's files in one folder keyed by content and checks nothing but size;
the guard (ui/guard.py) answers the upload route with this store instead. An upload stays `ttl_seconds` after its
last use (its upload, or the end of a run that read it), so the same picture can be run again; the quota makes the
oldest room when the user uploads more, and a run's inputs are read only from the runner's own folder.
"""
from __future__ import annotations

import hashlib
import logging
import os
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

PENDING_LIMIT_SECONDS = 2 * 3600  # an upload a run still waits on is spared this long, then swept anyway
FINISHED_MEMORY_SECONDS = 600  # a run that finished before its inputs were claimed still releases them
GONE_MESSAGE = ("That image is no longer available (uploads are kept for a few minutes after their last use): "
                "upload it again.")


class UploadRefused(Exception):
    """An upload the playground does not keep; status mirrors the API's status for the same cause."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


@dataclass(frozen=True)
class UploadRules:
    max_bytes: int  # one upload request, as MAX_UPLOAD_BYTES bounds one API request
    max_pixels: int
    quota_bytes: int  # what one user may keep waiting at once
    quota_files: int
    ttl_seconds: float

    @classmethod
    def from_config(cls, config) -> "UploadRules":
        return cls(int(config["MAX_UPLOAD_BYTES"]), int(config["MAX_INPUT_PIXELS"]),
                   int(config["PLAYGROUND_UPLOAD_QUOTA_BYTES"]), int(config["PLAYGROUND_UPLOAD_QUOTA_FILES"]),
                   float(config["PLAYGROUND_UPLOAD_TTL_SECONDS"]))


def checked_extension(data: bytes, max_pixels: int) -> str:
    """The file's extension once it passes the API's checks (format by its bytes, pixels from its header)."""
    from pixelforge.images import read_header
    from pixelforge.operations import ValidationFailed

    try:
        header = read_header(data, "image", max_pixels)
    except ValidationFailed as exc:
        raise UploadRefused(422, exc.message) from None
    return {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}[header.format]


class UploadStore:
    """Uploads under root/<user id>/, checked, counted and deleted; safe to call from any thread."""

    def __init__(self, root: Path, rules: UploadRules):
        self.root = Path(root)
        self.rules = rules
        self._lock = threading.Lock()
        self._pending: dict[str, tuple[float, frozenset[Path]]] = {}  # event id → (since, uploads it reads)
        self._finished: dict[str, float] = {}  # event ids that finished before they were claimed

    def folder(self, user_id: int) -> Path:
        return self.root / str(int(user_id))

    def usage(self, user_id: int) -> tuple[int, int]:
        """(files, bytes) the user keeps in the playground now."""
        files = [p for p in self.folder(user_id).glob("*") if p.is_file()]
        return len(files), sum(p.stat().st_size for p in files)

    def save(self, user_id: int, data: bytes) -> Path:
        """Check one uploaded file and keep it in the user's folder; raise UploadRefused otherwise.

        Files are named by their content, so the mask editor's repeated uploads of one picture are kept once.
        To stay within the quota, the user's oldest uploads that no run waits on make room (the editor uploads
        on every stroke); a file that does not fit even then is refused.
        """
        if len(data) > self.rules.max_bytes:
            raise UploadRefused(413, f"The file is over the upload limit of {self.rules.max_bytes:,} bytes.")
        extension = checked_extension(data, self.rules.max_pixels)
        folder = self.folder(user_id)
        path = folder / f"{hashlib.sha256(data).hexdigest()[:32]}.{extension}"
        with self._lock:
            if path.is_file():
                os.utime(path)  # used again: its time to live starts over
                return path
            self._make_room(folder, len(data))
            folder.mkdir(parents=True, exist_ok=True)
            staging = folder / f".{path.name}.{secrets.token_hex(4)}.part"  # never counted or served half-written
            staging.write_bytes(data)
            os.replace(staging, path)
        return path

    def _make_room(self, folder: Path, size: int) -> None:
        """Delete the folder's oldest unclaimed uploads until size more bytes (and one file) fit the quota."""
        waiting = set().union(*(paths for _, paths in self._pending.values()))
        kept = sorted(((p.stat().st_mtime, p) for p in folder.glob("*") if p.is_file()), reverse=True)
        files, used = len(kept), sum(p.stat().st_size for _, p in kept)
        evictable = [p for _, p in kept if p.resolve() not in waiting]  # newest first
        while (files + 1 > self.rules.quota_files or used + size > self.rules.quota_bytes) and evictable:
            oldest = evictable.pop()
            files, used = files - 1, used - oldest.stat().st_size
            oldest.unlink(missing_ok=True)
        if files + 1 > self.rules.quota_files or used + size > self.rules.quota_bytes:
            raise UploadRefused(429, f"This file does not fit your playground upload space ({self.rules.quota_files} "
                                     f"files, {self.rules.quota_bytes / 1e6:.0f} MB, for runs still waiting "
                                     "included): wait for your runs to finish, or send a smaller file.")

    def owned(self, user_id: int, path: str) -> Path | None:
        """The upload at path if it is a file in this user's folder now, else None (symlinks resolved)."""
        if not isinstance(path, str) or not path or "\x00" in path or not os.path.isabs(path):
            return None
        try:
            resolved = Path(path).resolve(strict=True)
            folder = self.folder(user_id).resolve(strict=True)
        except (OSError, RuntimeError):
            return None
        if resolved.parent != folder or not resolved.is_file() or resolved.name.startswith("."):
            return None
        return resolved

    # --- deletion ------------------------------------------------------------------------------------

    def claim(self, event_id: str, uploads: list[Path]) -> None:
        """A run (Gradio event) will read these uploads: the quota spares them until it finishes."""
        if not uploads:
            return
        with self._lock:
            if self._finished.pop(event_id, None) is not None:
                self._used(frozenset(uploads))
                return
            self._pending[event_id] = (time.time(), frozenset(uploads))

    def finish(self, event_id: str) -> None:
        """The run is over: its uploads are used now, so they stay ttl_seconds for another run of the same picture
        (within the quota, which may make room with them from then on)."""
        with self._lock:
            claimed = self._pending.pop(event_id, None)
            if claimed is None:
                self._finished[event_id] = time.time()
                return
            self._used(claimed[1])

    @staticmethod
    def _used(uploads: frozenset[Path]) -> None:
        for path in uploads:
            try:
                os.utime(path)  # its time to live starts over
            except OSError:  # already swept or made room with
                continue

    def sweep(self, now: float | None = None) -> int:
        """Delete uploads unused for ttl_seconds (and claims left behind); the number of files deleted."""
        now = time.time() if now is None else now
        with self._lock:
            for event_id, (since, _) in list(self._pending.items()):
                if now - since > PENDING_LIMIT_SECONDS:
                    del self._pending[event_id]
            for event_id, when in list(self._finished.items()):
                if now - when > FINISHED_MEMORY_SECONDS:
                    del self._finished[event_id]
            waiting = set().union(*(paths for _, paths in self._pending.values()))
            deleted = 0
            for path in self.root.glob("*/*"):
                try:
                    expired = now - path.stat().st_mtime > self.rules.ttl_seconds
                except OSError:
                    continue
                if expired and path.resolve() not in waiting:
                    path.unlink(missing_ok=True)
                    deleted += 1
            return deleted


def start_sweeper(store: UploadStore, *others) -> threading.Thread:
    """A daemon thread that sweeps the store (and each of others' prune()) every half TTL, at most every 30 s."""
    interval = min(30.0, max(0.5, store.rules.ttl_seconds / 2))

    def loop() -> None:
        while True:
            time.sleep(interval)
            try:
                store.sweep()
                for other in others:
                    other.prune()
            except Exception:  # a sweep that fails must not end the sweeping
                log.exception("playground upload sweep failed")

    thread = threading.Thread(target=loop, name="playground-upload-sweeper", daemon=True)
    thread.start()
    return thread
