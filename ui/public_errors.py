"""Messages for the browser never name a place on the server: known server folders become "[server path]"."""
from __future__ import annotations

import re
import tempfile
from collections.abc import Iterable
from pathlib import Path

REDACTED = "[server path]"


def server_roots(flask_app, temp_dir: Path) -> list[str]:
    """Folders whose names (and everything below them) a message must not show."""
    config = flask_app.config
    roots = [flask_app.instance_path, config["STORAGE_DIR"], config["MODELS_DIR"], temp_dir, tempfile.gettempdir()]
    return [str(Path(root).resolve()) for root in roots if root]


def without_server_paths(text: str, roots: Iterable[str]) -> str:
    """text with every path under one of roots replaced by REDACTED."""
    for root in sorted({r.rstrip("/") for r in roots if len(r.rstrip("/")) > 1}, key=len, reverse=True):
        text = re.sub(re.escape(root) + r"(?=$|[/\s'\"),;:])[^\s'\"<>,;()]*", REDACTED, text)
    return text
