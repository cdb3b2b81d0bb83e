"""The README's client examples, run as printed (BASE and the key changed) against the real service."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest
from PIL import Image

from service import REPO_ROOT, LiveService
from test_service import photo_jpeg

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

EXAMPLE = re.compile(r"<!-- example: ([\w-]+) -->\n```(\w+)\n(.*?)```", re.S)
EXAMPLES = {name: (language, code) for name, language, code in EXAMPLE.findall((REPO_ROOT / "README.md").read_text())}
CLIENT_ROOT = REPO_ROOT / "clients" / "python"


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    with LiveService(tmp_path_factory.mktemp("readme") / "instance") as live:
        yield live


def test_the_readme_has_its_examples():
    assert set(EXAMPLES) == {"python-client", "python-requests", "node"}


@pytest.mark.parametrize("name", ["python-client", "python-requests", "node"])
def test_readme_example_runs(service, tmp_path, name):
    language, code = EXAMPLES[name]
    key = service.user_with_key(f"readme-{name}@example.com", credits=5)
    code = code.replace("pfk_your_api_key", key).replace("http://127.0.0.1:8000", service.base)
    photo_jpeg(tmp_path / "photo.jpg")
    env = {**os.environ, "PYTHONPATH": str(CLIENT_ROOT)}
    if language == "js":
        node = shutil.which("node")
        if node is None:
            pytest.skip("node is not installed")
        (tmp_path / "example.mjs").write_text(code)
        command = [node, "example.mjs"]
    else:
        (tmp_path / "example.py").write_text(code)
        command = [sys.executable, "example.py"]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = Image.open(tmp_path / "result.png")
    assert result.format == "PNG" and result.mode == "RGBA" and result.size == (96, 64)
