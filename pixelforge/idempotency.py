"""Idempotency-Key: the same key and request within the window returns the first response, charged once.

The first request claims the key by inserting its row (a unique constraint decides races); a concurrent
duplicate waits for that row to hold a response and replays it. A different request under a used key is a
conflict. Failed first requests release the key, so a client can fix the cause and retry with the same key.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable

from flask import current_app
from sqlalchemy.exc import IntegrityError

from pixelforge.errors import Conflict
from pixelforge.extensions import db
from pixelforge.models import IdempotencyRecord, utcnow

MAX_KEY_CHARS = 255
WAIT_FOR_FIRST_SECONDS = 30.0


class IdempotencyConflict(Conflict):
    """The key was used for a different request, or its first request is still running (HTTP 409)."""

    code, param = "idempotency_conflict", "Idempotency-Key"


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    body: dict
    replayed: bool


def fingerprint(path: str, fields: dict[str, str], files: dict[str, bytes | None]) -> str:
    """Path + sorted form fields + SHA-256 of each file: multipart boundaries differ on every retry."""
    digest = hashlib.sha256(path.encode())
    for name in sorted(fields):
        digest.update(b"\x00field\x00" + name.encode() + b"\x00" + fields[name].encode())
    for name in sorted(files):
        if files[name] is not None:
            digest.update(b"\x00file\x00" + name.encode() + b"\x00" + hashlib.sha256(files[name]).digest())
    return digest.hexdigest()


def _window() -> timedelta:
    return timedelta(seconds=current_app.config["IDEMPOTENCY_WINDOW_SECONDS"])


def _claim(user_id: int, key: str, request_fingerprint: str) -> IdempotencyRecord | None:
    """Insert our claim; None if we won, else the existing record."""
    stale = db.session.scalar(db.select(IdempotencyRecord).filter_by(user_id=user_id, key=key))
    if stale is not None and utcnow() - stale.created_at > _window():
        db.session.delete(stale)
        db.session.commit()
    try:
        db.session.add(IdempotencyRecord(user_id=user_id, key=key, fingerprint=request_fingerprint))
        db.session.commit()
        return None
    except IntegrityError:
        db.session.rollback()
        return db.session.scalar(db.select(IdempotencyRecord).filter_by(user_id=user_id, key=key))


def run_once(user_id: int, key: str, request_fingerprint: str,
             handle: Callable[[], tuple[dict, int]]) -> StoredResponse:
    """Run handle() once per (user, key); replay its response to identical requests."""
    if len(key) > MAX_KEY_CHARS or not key.isprintable():
        from pixelforge.operations import ValidationFailed

        raise ValidationFailed(f"Idempotency-Key must be printable and at most {MAX_KEY_CHARS} characters",
                               "Idempotency-Key", "invalid_idempotency_key")
    existing = _claim(user_id, key, request_fingerprint)
    if existing is None:
        try:
            body, status = handle()
        except Exception:
            _release(user_id, key)
            raise
        record = db.session.scalar(db.select(IdempotencyRecord).filter_by(user_id=user_id, key=key))
        record.status_code, record.body = status, body
        db.session.commit()
        return StoredResponse(status, body, replayed=False)
    return _replay(existing, request_fingerprint)


def _replay(record: IdempotencyRecord, request_fingerprint: str) -> StoredResponse:
    if record.fingerprint != request_fingerprint:
        raise IdempotencyConflict("this Idempotency-Key was already used for a different request; "
                                  "use a new key for a new request")
    deadline = time.monotonic() + WAIT_FOR_FIRST_SECONDS
    record_id = record.id
    while record is not None and record.status_code is None and time.monotonic() < deadline:
        time.sleep(0.05)
        db.session.expire_all()
        record = db.session.get(IdempotencyRecord, record_id)
    if record is None:
        raise IdempotencyConflict("the first request with this Idempotency-Key failed; retry it")
    if record.status_code is None:
        raise IdempotencyConflict("the first request with this Idempotency-Key is still being processed")
    return StoredResponse(record.status_code, record.body, replayed=True)


def _release(user_id: int, key: str) -> None:
    db.session.rollback()
    db.session.execute(db.delete(IdempotencyRecord).filter_by(user_id=user_id, key=key))
    db.session.commit()


def purge_idempotency_records() -> int:
    """Forget keys older than the window."""
    result = db.session.execute(db.delete(IdempotencyRecord).where(
        IdempotencyRecord.created_at < utcnow() - _window()))
    db.session.commit()
    return result.rowcount or 0
