"""Findings 1 and 2 of issue 12, as an attacker runs them: over HTTP, against `pixelforge serve`, signed in
through the dashboard, speaking Gradio's own protocol (upload, queue/join, queue/data, file=).

1. A client-supplied FileData path (the server's secrets, its database) is never read, never copied where
   file= serves it, and never named in a message.
2. file= serves a signed-in user only the files the playground took from or gave to that user: another
   user's upload and result, and stored job inputs, are 404.
"""
from __future__ import annotations

import io
import re
import uuid
from pathlib import Path

import pytest
from PIL import Image

from gradio_session import PlaygroundUser, file_data
from service import LiveService

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    env = {"PIXELFORGE_SIGNUP_CREDITS": "0"}  # the attacker: a free sign-up with no credits
    with LiveService(tmp_path_factory.mktemp("playground-files") / "instance", env=env) as live:
        yield live


def new_user(service, credits: int = 0) -> tuple[PlaygroundUser, str]:
    email = f"user-{uuid.uuid4().hex[:8]}@example.com"
    user = PlaygroundUser(service.base).sign_up(email)
    if credits:
        service.cli("users", "add-credits", email, str(credits))
    return user, email


def picture(seed: int = 0) -> bytes:
    """A small PNG, different per seed (the upload folder is keyed by content)."""
    image = Image.new("RGB", (64, 48), (40 + seed, 90, 160))
    image.putpixel((seed % 64, 0), (255, 255, 255))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def files_containing(folder: Path, needle: bytes) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and needle in p.read_bytes()]


@pytest.mark.parametrize("target", ["key_hash_secret", "secret_key", "pixelforge.db"])
def test_a_client_supplied_path_never_reads_a_server_file(service, target):
    attacker, _ = new_user(service)  # free plan, 0 credits
    secret_path = service.instance / target
    secret = secret_path.read_bytes()[:32]
    joined, outcome = attacker.run("enhance-run", file_data(str(secret_path)))

    said = joined.text + "".join(str(m) for m in (outcome.messages if outcome else []))
    assert str(service.instance) not in said and "/tmp" not in said  # no server path in any message
    assert outcome is None or not outcome.success
    assert files_containing(service.instance / "gradio", secret) == []  # nothing was copied where file= serves
    from gradio.processing_utils import hash_file

    copy = service.instance / "gradio" / hash_file(secret_path) / target  # where the unguarded copy went
    for path in [str(copy), str(secret_path), *(outcome.file_paths if outcome else [])]:
        fetched = attacker.fetch(path)
        assert fetched.status_code == 404 and secret not in fetched.content


def test_file_route_serves_no_server_file(service):
    attacker, _ = new_user(service)
    for path in [service.instance / "key_hash_secret", service.instance / "pixelforge.db", Path("/etc/passwd"),
                 service.instance / "gradio", "http://127.0.0.1:1/x.png"]:
        assert attacker.fetch(str(path)).status_code == 404, path


def test_another_users_playground_files_are_404(service):
    alice, _ = new_user(service, credits=5)
    bob, _ = new_user(service, credits=5)
    freeloader, _ = new_user(service)

    uploaded = alice.upload("photo.png", picture(1))
    assert uploaded.status_code == 200
    [upload_path] = uploaded.json()
    assert alice.fetch(upload_path).status_code == 200
    for other in (bob, freeloader):
        assert other.fetch(upload_path).status_code == 404
        joined, outcome = other.run("enhance-run", file_data(upload_path))  # run a job on alice's picture
        assert outcome is None or not outcome.success

    joined, outcome = alice.run("enhance-run", file_data(upload_path))
    assert joined.status_code == 200 and outcome.success, outcome.error
    for path in outcome.file_paths:  # any file the run handed out is alice's alone
        assert alice.fetch(path).status_code == 200
        for other in (bob, freeloader):
            assert other.fetch(path).status_code == 404
    job_id = re.search(r"/dashboard/jobs/([0-9a-f-]{36})/preview/result", str(outcome.completed)).group(1)
    for kind in ("preview/input", "preview/result", "result", "input"):  # the result panel's pictures
        url = f"{service.base}/dashboard/jobs/{job_id}/{kind}"
        assert alice.http.get(url, timeout=10).status_code == 200
        for other in (bob, freeloader):
            assert other.http.get(url, timeout=10, allow_redirects=False).status_code == 404

    stored = [p for p in (service.instance / "storage").rglob("*") if p.is_file()]
    assert stored  # alice's job input and result
    for path in stored:
        for user in (alice, bob, freeloader):
            assert user.fetch(str(path)).status_code == 404


def test_another_users_session_is_not_readable(service):
    alice, _ = new_user(service, credits=5)
    bob, _ = new_user(service)
    uploaded = alice.upload("photo.png", picture(2)).json()[0]
    fn_index, trigger = alice.event_of("enhance-run")
    joined = alice.join(fn_index, trigger, [file_data(uploaded)])
    assert joined.status_code == 200
    bob.session_hash = alice.session_hash  # bob listens to (or joins) alice's session
    response = bob.http.get(f"{bob.base}/playground/gradio_api/queue/data",
                            params={"session_hash": alice.session_hash}, timeout=10)
    assert response.status_code == 404
    assert bob.join(fn_index, trigger, [None]).status_code == 404
    assert alice.read_events(joined.json()["event_id"]).completed  # alice's own run is unaffected
