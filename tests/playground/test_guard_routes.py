"""The guard in front of the mounted Gradio app, through the ASGI root in-process: only the page's routes exist,
each needs a signed-in user, and behind the guard Gradio's own upload-folder check is on."""
from __future__ import annotations

import contextvars
import json

import pytest

PASSWORD = "password123"


@pytest.fixture
def root(app):
    from pixelforge.asgi import create_asgi_app

    app.config["PLAYGROUND_ENABLED"] = True
    return create_asgi_app(app)


@pytest.fixture
def browser(root, make_user):
    """A signed-in TestClient; each request outside the test's app context (as in production)."""
    from starlette.testclient import TestClient

    user = make_user(plan="free", credits=0, password=PASSWORD)
    client = TestClient(root, base_url="http://pixelforge.test", follow_redirects=False)

    def request(method: str, url: str, **kwargs):
        return contextvars.Context().run(client.request, method, url, **kwargs)

    assert request("POST", "/login", data={"email": user.email, "password": PASSWORD}).status_code == 302
    request.client = client
    return request


def gradio_templates(routes) -> set[tuple[str, str]]:
    """(path template, method) of every route of the Gradio app, included routers too."""
    found = set()
    for route in routes:
        if hasattr(route, "original_router"):
            found |= gradio_templates(route.original_router.routes)
        for method in getattr(route, "methods", None) or ():
            found.add((route.path, method))
    return found


def test_every_route_the_guard_lets_through_is_one_of_gradios(root):
    from starlette.routing import Mount

    from ui.guard import ROUTES, PlaygroundGuard

    guard = next(r for r in root.routes if isinstance(r, Mount) and r.path == "/playground").app
    assert isinstance(guard, PlaygroundGuard)
    templates = gradio_templates(guard.app.routes)
    for template, methods, _ in ROUTES:  # a Gradio upgrade that renames one fails here, not in a browser
        assert any((template, method) in templates for method in methods), template


@pytest.mark.parametrize("method, path", [
    ("GET", "/playground/gradio_api/info"),
    ("GET", "/playground/gradio_api/openapi.json"),
    ("POST", "/playground/gradio_api/call/run_enhance"),
    ("POST", "/playground/gradio_api/run/run_enhance"),
    ("GET", "/playground/gradio_api/proxy=http://127.0.0.1:6379/"),
    ("POST", "/playground/gradio_api/component_server"),
    ("POST", "/playground/gradio_api/process_recording"),
    ("POST", "/playground/gradio_api/vibe-edit"),
    ("GET", "/playground/gradio_api/deep_link"),
    ("GET", "/playground/monitoring"),
    ("GET", "/playground/gradio_api/queue/status"),
    ("POST", "/playground/gradio_api/upload/"),  # Starlette's slash redirect does not lead around it
    ("GET", "/playground/gradio_api/upload"),
    ("POST", "/playground/gradio_api/file=/etc/passwd"),
    ("GET", "/playground//gradio_api/file=/etc/passwd"),
])
def test_routes_the_page_does_not_use_are_404(browser, method, path):
    assert browser(method, path).status_code == 404


def test_anonymous_requests_get_nothing(root):
    from starlette.testclient import TestClient

    client = TestClient(root, base_url="http://pixelforge.test", follow_redirects=False)
    assert client.post("/playground/gradio_api/upload", files={"files": ("a.png", b"x")}).status_code == 401
    assert client.get("/playground/gradio_api/file=/etc/passwd").status_code == 401
    assert client.post("/playground/gradio_api/queue/join", json={}).status_code == 401


def test_inline_image_data_cannot_stand_in_for_an_upload(browser, png):
    [path] = browser("POST", "/playground/gradio_api/upload", files={"files": ("a.png", png)}).json()
    joined = browser("POST", "/playground/gradio_api/queue/join", json={
        "data": [{"path": path, "url": "data:image/png;base64,AAAA", "meta": {"_type": "gradio.FileData"}}],
        "fn_index": 0, "session_hash": "inline-data"})
    assert joined.status_code == 422


def test_behind_the_guard_gradio_refuses_a_client_path_and_says_nothing(root, browser, app, monkeypatch):
    """Defence in depth: with the guard out of the way, Gradio's own upload-folder check still refuses."""
    from pathlib import Path

    from gradio import processing_utils
    from starlette.routing import Mount

    copied = []
    copy = processing_utils.save_file_to_cache
    monkeypatch.setattr(processing_utils, "save_file_to_cache",
                        lambda path, **kw: copied.append(path) or copy(path, **kw))

    mount = next(r for r in root.routes if isinstance(r, Mount) and r.path == "/playground")
    mount.app = mount.app.app  # the bare Gradio app, as before the fix
    secret = Path(app.instance_path) / "key_hash_secret"
    with browser.client:  # runs the lifespan: Gradio's queue
        config = browser("GET", "/playground/config").json()
        button = next(c["id"] for c in config["components"] if c.get("props", {}).get("elem_id") == "enhance-run")
        fn_index = next(d["id"] for d in config["dependencies"] if [button, "click"] in d["targets"])
        joined = browser("POST", "/playground/gradio_api/queue/join", json={
            "data": [{"path": str(secret), "meta": {"_type": "gradio.FileData"}}], "fn_index": fn_index,
            "trigger_id": button, "session_hash": "bare"})
        assert joined.status_code == 200
        with browser.client.stream("GET", "/playground/gradio_api/queue/data",
                                   params={"session_hash": "bare"}) as events:
            messages = []
            for line in events.iter_lines():
                if line.startswith("data:"):
                    messages.append(json.loads(line[5:]))
                    if messages[-1].get("msg") == "process_completed":
                        break
    completed = messages[-1]
    assert completed["success"] is False and completed["output"]["error"] is None  # nothing said
    assert copied == []  # refused before Gradio copied it into the folder file= serves
