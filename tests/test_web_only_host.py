"""A web-only host installs `pixelforge` without the [worker] and [playground] extras: no torch, no Gradio.

The web tier (API, dashboard, docs, the CLI) must start and take jobs there. The check runs in a fresh interpreter
where importing any package of those extras fails, as it would on such a host.
"""
from __future__ import annotations

import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORKER_EXTRA = ("torch", "torchvision", "spandrel", "rembg", "onnxruntime", "diffusers", "transformers", "skimage")
PLAYGROUND_EXTRA = ("gradio",)

WEB_HOST = textwrap.dedent("""
    import io, sys, logging
    BLOCKED = set(sys.argv[1].split(","))

    class NotInstalled:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {name!r} (a web-only host)", name=name)
            return None

    sys.meta_path.insert(0, NotInstalled())
    from PIL import Image
    from pixelforge import create_app
    from pixelforge.accounts import create_user
    from pixelforge.asgi import create_asgi_app
    from pixelforge.cli import main
    from pixelforge.keys import create_key

    app = create_app({"TESTING": True, "INSTANCE_DIR": sys.argv[2], "REDIS_URL": sys.argv[3],
                      "REQUIRE_LIVE_WORKER": False, "WTF_CSRF_ENABLED": False, "PLAYGROUND_ENABLED": True})
    with app.app_context():
        user = create_user("web@example.com", plan="pro", credits=5)
        key = create_key(user, "web").secret
    client = app.test_client()
    png = io.BytesIO()
    Image.new("RGB", (16, 12), "teal").save(png, "PNG")
    answer = client.post("/api/v1/upscale", headers={"Authorization": f"Bearer {key}"},
                         data={"image": (io.BytesIO(png.getvalue()), "a.png"), "scale": "2"})
    assert answer.status_code == 202, answer.get_json()
    assert client.get("/api/v1/openapi.json").status_code == 200
    assert client.get("/login").status_code == 200
    create_asgi_app(app)  # the playground is left out, with a warning
    assert not BLOCKED & {name.split(".")[0] for name in sys.modules}
    print("web-only host OK")
""")


def test_the_extras_hold_what_a_web_host_does_not_need():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = " ".join(project["dependencies"]).lower()
    for package in (*WORKER_EXTRA, *PLAYGROUND_EXTRA):
        assert package not in base.replace("scikit-image", "skimage"), package
    worker = " ".join(project["optional-dependencies"]["worker"]).replace("scikit-image", "skimage")
    assert all(package in worker for package in WORKER_EXTRA)
    assert "gradio" in " ".join(project["optional-dependencies"]["playground"])
    assert "pixelforge[worker,playground]" in project["optional-dependencies"]["test"]


def test_the_web_tier_takes_jobs_without_torch_or_gradio(tmp_path, redis_server):
    blocked = ",".join((*WORKER_EXTRA, *PLAYGROUND_EXTRA))
    done = subprocess.run([sys.executable, "-c", WEB_HOST, blocked, str(tmp_path / "instance"), redis_server.url],
                          capture_output=True, text=True, cwd=ROOT, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "web-only host OK" in done.stdout
    assert "Gradio is not installed here" in done.stderr
