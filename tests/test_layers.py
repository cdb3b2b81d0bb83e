"""The layers of the code base, and the imports each may make (README, "How it fits together").

    entry       the commands and served objects that wire everything together (cli, asgi, supervisor, wsgi)
    web         HTTP: the API, the dashboard, the live layer, request handling
    domain      accounts, credits, jobs, lifecycle, storage, images, operations, queues: no HTTP request state
    worker      engines, inference, the model registry, the worker process (`workers`)
    playground  the Gradio playground (`ui`)

Every import in every module counts, including the lazy ones inside functions: a lazy import of torch in a web
handler still loads torch into the web process.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENTRY = ("pixelforge.cli", "pixelforge.asgi", "pixelforge.supervisor", "pixelforge.worker_pool",
         "pixelforge.gunicorn_config", "wsgi")
WEB = ("pixelforge.api", "pixelforge.dashboard", "pixelforge.web", "pixelforge.live", "pixelforge.metrics_endpoint",
       "pixelforge.bodies", "pixelforge.internal_requests", "pixelforge.key_lookup")
MODEL_LIBRARIES = ("torch", "torchvision", "spandrel", "rembg", "onnxruntime", "diffusers", "transformers")
REQUEST_STATE = ("flask.request", "flask.g", "flask.session", "flask_login.current_user", "flask.has_request_context")

FORBIDDEN = {  # layer → module prefixes it must not import
    "domain": (*ENTRY, *WEB, "workers", "ui", "gradio", *MODEL_LIBRARIES, *REQUEST_STATE),
    "web": (*ENTRY, "workers", "ui", "gradio", *MODEL_LIBRARIES),
    "worker": (*ENTRY, *WEB, "ui", "gradio", *REQUEST_STATE),
    "playground": ("pixelforge.cli", "pixelforge.supervisor", "workers", *MODEL_LIBRARIES),
}


def _within(module: str, prefixes) -> bool:
    return any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes)


def layer_of(module: str) -> str:
    if _within(module, ENTRY) or module == "pixelforge":  # create_app wires the web and the domain
        return "entry"
    if _within(module, WEB):
        return "web"
    if module.startswith("pixelforge"):
        return "domain"
    return {"workers": "worker", "ui": "playground"}.get(module.split(".")[0], "other")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, text: str | None = None) -> set[str]:
    """Every module (and `from module import name` as module.name) the file imports, anywhere in it."""
    package = module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else module_name(path)
    found = set()
    for node in ast.walk(ast.parse(text if text is not None else path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def sources():
    for top in ("pixelforge", "workers", "ui"):
        yield from sorted(path for path in (ROOT / top).rglob("*.py") if "migrations" not in path.parts)
    yield ROOT / "wsgi.py"


def violations(replaced: dict[Path, str] | None = None) -> list[str]:
    """What breaks the rules; `replaced` gives some files another text (the check's own test)."""
    found = []
    for path in sources():
        module = module_name(path)
        rules = FORBIDDEN.get(layer_of(module), ())
        for imported in sorted(imports_of(path, (replaced or {}).get(path))):
            if _within(imported, rules):
                found.append(f"{module} ({layer_of(module)}) imports {imported}")
    return found


def test_every_module_keeps_to_its_layer():
    assert violations() == []


def test_no_import_cycle_between_the_top_level_packages():
    edges = {(module_name(path).split(".")[0], imported.split(".")[0])
             for path in sources() if layer_of(module_name(path)) != "entry"
             for imported in imports_of(path) if imported.split(".")[0] in ("pixelforge", "workers", "ui")}
    edges = {(a, b) for a, b in edges if a != b}
    assert not {(a, b) for a, b in edges if (b, a) in edges}, sorted(edges)


@pytest.mark.parametrize("planted, layer", [
    ("pixelforge/jobs.py", "domain"), ("pixelforge/api/__init__.py", "web"), ("workers/tasks.py", "worker")])
def test_the_check_finds_a_planted_violation(planted, layer):
    """The rules bite: a domain module that reads the request, a web module that loads torch, a worker that
    reaches into the API."""
    bad = {"domain": "from flask import request\n", "web": "def f():\n    import torch\n",
           "worker": "from pixelforge.api import errors\n"}[layer]
    path = ROOT / planted
    planted_module = module_name(path)
    found = violations({path: path.read_text() + "\n" + bad})
    assert any(line.startswith(f"{planted_module} ({layer})") for line in found), found
