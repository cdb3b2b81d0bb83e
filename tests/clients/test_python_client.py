"""The Python client and its batch command line against the real service."""
from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys

import httpx
import numpy as np
import pytest
from PIL import Image

from service import REPO_ROOT, LiveService

CLIENT_ROOT = REPO_ROOT / "clients" / "python"  # its own distribution: imported from the checkout
if str(CLIENT_ROOT) not in sys.path:
    sys.path.insert(0, str(CLIENT_ROOT))

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    with LiveService(tmp_path_factory.mktemp("client") / "instance") as live:
        yield live


def photo(path=None, size=(64, 48), seed=0) -> bytes:
    rng = np.random.default_rng(seed)
    pixels = np.zeros((size[1], size[0], 3), np.uint8) + np.array([30, 60, 90], np.uint8)
    pixels[size[1] // 4: 3 * size[1] // 4, size[0] // 4: 3 * size[0] // 4] = rng.integers(150, 255, 3)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=95)
    if path is not None:
        path.write_bytes(buffer.getvalue())
    return buffer.getvalue()


def cli(service: LiveService, key: str, *args: str, cwd) -> subprocess.CompletedProcess:
    env = {**os.environ, "PIXELFORGE_BASE_URL": service.base, "PIXELFORGE_API_KEY": key,
           "PYTHONPATH": str(CLIENT_ROOT)}
    return subprocess.run([sys.executable, "-m", "pixelforge_client", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_run_returns_the_result_and_errors_carry_code_param_and_request_id(service):
    from pixelforge_client import AuthenticationError, Client, NotFound, ValidationError

    key = service.user_with_key("client-run@example.com", credits=10)
    with Client(service.base, key) as client:
        result = client.run("upscale", photo(), scale=4)
        assert result.job.status == "done" and result.content_type == "image/png"
        assert Image.open(io.BytesIO(result.data)).size == (256, 192)
        assert client.account()["credits"] == 8

        with pytest.raises(ValidationError) as refused:
            client.upscale(photo(), scale=3)
        assert refused.value.status == 422 and refused.value.param == "scale" and refused.value.request_id
        with pytest.raises(NotFound):
            client.get_job("00000000-0000-0000-0000-000000000000")
    with pytest.raises(AuthenticationError) as unauthorised:
        Client(service.base, "pfk_" + "x" * 40).account()
    assert unauthorised.value.code == "invalid_api_key"


def test_run_uses_the_servers_wait_mode_instead_of_polling(service):
    """One request learns the job's end (Prefer: wait), one downloads: no status polls."""
    from pixelforge_client import Client

    key = service.user_with_key("client-wait@example.com", credits=10)
    sent = []
    http = httpx.Client(timeout=60, event_hooks={"request": [lambda request: sent.append(
        (request.method, request.url.path, request.headers.get("prefer")))]})
    with Client(service.base, key, http=http) as client:
        result = client.run("upscale", photo(), scale=2)
    assert result.job.status == "done"
    assert [(method, path.rsplit("/", 1)[-1], prefer) for method, path, prefer in sent] == [
        ("POST", "upscale", "wait=55"), ("GET", "download", None)]


class LosesFirstSubmissionResponse(httpx.HTTPTransport):
    """A network that delivers the first POST to the server but loses its answer, as a dropped connection does."""

    def __init__(self):
        super().__init__()
        self.lost = 0

    def handle_request(self, request):
        response = super().handle_request(request)
        if request.method == "POST" and not self.lost:
            response.read()
            self.lost += 1
            raise httpx.ReadError("connection reset after the request was sent", request=request)
        return response


def test_a_retried_submission_after_a_lost_answer_is_charged_once(service):
    from pixelforge_client import Client, RetryPolicy

    key = service.user_with_key("client-retry@example.com", credits=10)
    transport = LosesFirstSubmissionResponse()
    with Client(service.base, key, retry=RetryPolicy(base_delay=0.05),
                http=httpx.Client(transport=transport, timeout=30)) as client:
        job = client.remove_background(photo())
        assert transport.lost == 1
        jobs, _ = client.list_jobs()
        assert [j.id for j in jobs] == [job.id]  # the retry replayed the first job, it did not make a second
        assert client.account()["credits"] == 9


def test_retry_policy_honours_retry_after_and_gives_up():
    from pixelforge_client import RetryPolicy

    policy = RetryPolicy(max_retries=2)
    assert policy.delay(0, 429, {"retry-after": "7"}) == 7
    assert 0 < policy.delay(1, 503, {}) <= 1.0
    assert policy.delay(0, 422, {}) is None  # a refusal is final
    assert policy.delay(2, 503, {}) is None  # retries used up


def test_async_client_runs_a_job(service):
    from pixelforge_client import AsyncClient

    key = service.user_with_key("client-async@example.com", credits=5)

    async def go():
        async with AsyncClient(service.base, key) as client:
            return await client.run("enhance", photo())

    result = asyncio.run(go())
    assert result.job.status == "done" and Image.open(io.BytesIO(result.data)).size == (64, 48)


def test_batch_cli_writes_results_resumes_and_fails_per_file(service, tmp_path):
    key = service.user_with_key("client-batch@example.com", credits=50)
    photos = tmp_path / "photos"
    (photos / "nested").mkdir(parents=True)
    for index in range(5):
        photo(photos / f"p{index}.jpg", seed=index)
    photo(photos / "nested" / "deep.jpg", seed=9)
    (photos / "broken.jpg").write_bytes(photo()[:200])  # a truncated JPEG

    first = cli(service, key, "run", "remove-background", str(photos), "-o", "out", "--jobs", "3", cwd=tmp_path)
    assert first.returncode == 1, first.stderr
    assert "6 done, 0 skipped, 1 failed; 6 credit(s) spent" in first.stdout
    assert "broken.jpg" in first.stderr and "corrupt_image" in first.stderr
    written = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.png"))
    assert written == ["nested/deep.png", "p0.png", "p1.png", "p2.png", "p3.png", "p4.png"]
    assert Image.open(tmp_path / "out" / "p0.png").mode == "RGBA"

    (photos / "broken.jpg").unlink()
    again = cli(service, key, "run", "remove-background", str(photos), "-o", "out", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "0 done, 6 skipped, 0 failed; 0 credit(s) spent" in again.stdout


def test_cli_without_a_key_says_so(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PIXELFORGE_API_KEY"}
    env["PYTHONPATH"] = str(CLIENT_ROOT)
    (tmp_path / "a.png").write_bytes(b"")
    done = subprocess.run([sys.executable, "-m", "pixelforge_client", "run", "enhance", "a.png", "-o", "out"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "PIXELFORGE_API_KEY" in done.stderr


def test_the_client_installs_without_the_server_stack(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(CLIENT_ROOT)], capture_output=True,
                         text=True, timeout=600)
    assert pip.returncode == 0, pip.stderr[-2000:]
    installed = subprocess.run([str(venv / "bin" / "pip"), "list", "--format=freeze"], capture_output=True,
                               text=True, check=True).stdout.lower()
    for heavy in ("torch", "flask", "gradio", "numpy", "pillow"):
        assert f"\n{heavy}==" not in "\n" + installed, installed
    assert subprocess.run([str(venv / "bin" / "pixelforge-client"), "--help"], capture_output=True,
                          timeout=60).returncode == 0
