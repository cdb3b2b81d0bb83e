"""Who may see what in the playground: the files handed to each user, and which user each Gradio session is.

Gradio's file route serves any file in its cache to anyone signed in, and its queue trusts whoever names a
session hash; these records let the guard (ui/guard.py) answer 404 to everyone but the owner.
"""
from __future__ import annotations

import os
import threading
import time

SESSION_KEEP_SECONDS = 24 * 3600
MAX_SESSIONS = 200_000  # a bound on memory; the oldest sessions are forgotten first


def normalised(path: str) -> str | None:
    """The path as the file route will open it (absolute, symlinks resolved), or None if it is not a path."""
    if not isinstance(path, str) or not path or "\x00" in path or not os.path.isabs(path):
        return None
    return os.path.realpath(path)


class HandedOut:
    """Files the playground gave each user (results and their previews), for keep_seconds."""

    def __init__(self, keep_seconds: float):
        self.keep_seconds = keep_seconds
        self._lock = threading.Lock()
        self._files: dict[int, dict[str, float]] = {}  # user id → path → when handed out

    def record(self, user_id: int, paths: list[str]) -> None:
        now = time.time()
        with self._lock:
            files = self._files.setdefault(user_id, {})
            for path in paths:
                real = normalised(path)
                if real is not None:
                    files[real] = now

    def owns(self, user_id: int, path: str) -> bool:
        real = normalised(path)
        with self._lock:
            since = self._files.get(user_id, {}).get(real) if real else None
        return since is not None and time.time() - since <= self.keep_seconds

    def prune(self) -> None:
        cutoff = time.time() - self.keep_seconds
        with self._lock:
            for user_id, files in list(self._files.items()):
                for path, since in list(files.items()):
                    if since < cutoff:
                        del files[path]
                if not files:
                    del self._files[user_id]


class SessionOwners:
    """A Gradio session hash belongs to the first signed-in user who uses it; nobody else may join or read it."""

    def __init__(self):
        self._lock = threading.Lock()
        self._owners: dict[str, tuple[int, float]] = {}  # session hash → (user id, last seen)

    def claim(self, session_hash: str, user_id: int) -> bool:
        """True if the session is this user's (now or from before), False if it is someone else's."""
        if not isinstance(session_hash, str) or not session_hash:
            return False
        with self._lock:
            owner = self._owners.get(session_hash)
            if owner is not None and owner[0] != user_id:
                return False
            self._owners[session_hash] = (user_id, time.time())
            if len(self._owners) > MAX_SESSIONS:
                oldest = sorted(self._owners.items(), key=lambda item: item[1][1])[:MAX_SESSIONS // 10]
                for key, _ in oldest:
                    del self._owners[key]
            return True

    def prune(self) -> None:
        cutoff = time.time() - SESSION_KEEP_SECONDS
        with self._lock:
            for key, (_, seen) in list(self._owners.items()):
                if seen < cutoff:
                    del self._owners[key]
