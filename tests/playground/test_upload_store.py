"""The pieces behind the playground's guard, without a server: the upload store, redaction, blocked paths."""
from __future__ import annotations

import io
import os
import time

import pytest
from PIL import Image

from ui.ownership import HandedOut, SessionOwners
from ui.public_errors import REDACTED, without_server_paths
from ui.uploads import UploadRefused, UploadRules, UploadStore


def picture(seed: int, size=(32, 24)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (seed % 256, 10, 20)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def store(tmp_path):
    return UploadStore(tmp_path / "uploads", UploadRules(max_bytes=1 << 20, max_pixels=10_000, quota_bytes=1 << 20,
                                                         quota_files=3, ttl_seconds=60))


def test_uploads_are_checked_like_the_apis(store):
    for data, status in [(b"", 422), (b"GIF89a....", 422), (os.urandom(4096), 422), (picture(1, (200, 200)), 422),
                         (b"\x89PNG\r\n\x1a\n" + bytes(2 << 20), 413)]:
        with pytest.raises(UploadRefused) as refused:
            store.save(1, data)
        assert refused.value.status == status
    assert store.usage(1) == (0, 0)


def test_one_picture_is_kept_once_per_user(store):
    first, again, other = store.save(1, picture(1)), store.save(1, picture(1)), store.save(2, picture(1))
    assert first == again and first != other and store.usage(1)[0] == 1


def test_the_oldest_unclaimed_uploads_make_room_and_claimed_ones_do_not(store):
    paths = [store.save(1, picture(seed)) for seed in range(3)]
    for age, path in enumerate(reversed(paths)):
        os.utime(path, (time.time() - 10 * age, time.time() - 10 * age))
    store.claim("run-1", [paths[0].resolve()])  # the oldest, but a run waits on it
    newest = store.save(1, picture(3))
    assert paths[0].exists() and not paths[1].exists() and paths[2].exists() and newest.exists()
    store.claim("run-2", [paths[2].resolve(), newest.resolve()])
    with pytest.raises(UploadRefused) as refused:
        store.save(1, picture(4))
    assert refused.value.status == 429 and store.usage(1)[0] == 3


def test_a_runs_uploads_stay_for_another_run_then_expire(store):
    shared, own = store.save(1, picture(1)).resolve(), store.save(1, picture(2)).resolve()
    for path in (shared, own):
        os.utime(path, (time.time() - 50, time.time() - 50))  # uploaded a while ago
    store.claim("a", [shared, own])
    store.claim("b", [shared])
    store.finish("a")
    assert shared.exists() and own.exists()  # the same picture may be run again
    assert time.time() - own.stat().st_mtime < 5  # used now: its time to live starts over
    assert store.sweep(now=time.time() + 30) == 0
    store.finish("b")
    assert store.sweep(now=time.time() + 61) == 2 and not shared.exists() and not own.exists()
    early = store.save(1, picture(3)).resolve()
    store.finish("c")  # finished before its claim arrived
    store.claim("c", [early])
    assert early.exists() and not store._pending


def test_finished_runs_uploads_make_room_for_new_ones(store):
    paths = [store.save(1, picture(seed)).resolve() for seed in range(3)]
    store.claim("run", paths)
    store.finish("run")
    newest = store.save(1, picture(3))  # over the quota of 3: the oldest, no longer waited on, makes room
    assert store.usage(1)[0] == 3 and newest.exists() and sum(p.exists() for p in paths) == 2


def test_unused_uploads_are_swept_after_their_ttl(store):
    old, fresh = store.save(1, picture(1)), store.save(1, picture(2))
    os.utime(old, (time.time() - 120, time.time() - 120))
    assert store.sweep() == 1 and not old.exists() and fresh.exists()


def test_owned_means_a_file_in_the_users_own_folder(store, tmp_path):
    path = store.save(1, picture(1))
    assert store.owned(1, str(path)) == path.resolve()
    secret = tmp_path / "key_hash_secret"
    secret.write_text("s3cret")
    escape = store.folder(1) / "escape.png"
    escape.symlink_to(secret)
    for candidate in [str(secret), str(escape), str(store.folder(1) / ".." / "1" / ".." / ".." / "key_hash_secret"),
                      os.path.relpath(path), "", None, 7, ["x"], str(path) + "\x00"]:
        assert store.owned(1, candidate) is None, candidate
    assert store.owned(2, str(path)) is None


def test_handed_out_files_belong_to_their_user_for_a_while(tmp_path):
    handed = HandedOut(keep_seconds=60)
    result = tmp_path / "result.png"
    handed.record(1, [str(result)])
    assert handed.owns(1, str(tmp_path / "." / "result.png")) and not handed.owns(2, str(result))
    assert not handed.owns(1, "result.png")
    handed.keep_seconds = 0
    time.sleep(0.01)
    handed.prune()
    assert not handed.owns(1, str(result))


def test_a_session_belongs_to_its_first_user():
    sessions = SessionOwners()
    assert sessions.claim("abc", 1) and sessions.claim("abc", 1)
    assert not sessions.claim("abc", 2) and not sessions.claim("", 2) and not sessions.claim(None, 2)


def test_messages_lose_server_paths():
    roots = ["/srv/pf/instance", "/tmp"]
    text = ("cannot identify image file '/srv/pf/instance/gradio/ab12/key_hash_secret' "
            "(/tmp/x.png, /tmpfile stays, /srv/pf/instance)")
    assert without_server_paths(text, roots) == (f"cannot identify image file '{REDACTED}' "
                                                 f"({REDACTED}, /tmpfile stays, {REDACTED})")


def test_the_instances_secrets_and_data_are_blocked_but_not_the_playgrounds_folder(tmp_path):
    from pixelforge import create_app
    from ui import server_paths

    instance = tmp_path / "instance"
    app = create_app({"INSTANCE_DIR": str(instance), "PLAYGROUND_ENABLED": False})
    (instance / "storage").mkdir(exist_ok=True)
    temp = (instance / "gradio").resolve()
    temp.mkdir()
    blocked = server_paths(app, temp)
    for name in ["key_hash_secret", "secret_key", "pixelforge.db", "storage", "models", "redis", "config.py"]:
        assert (instance / name).resolve() in blocked
    assert not any(temp == path or temp.is_relative_to(path) for path in blocked)
    outside = server_paths(app, (tmp_path / "elsewhere").resolve())
    assert instance.resolve() in outside
