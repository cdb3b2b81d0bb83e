"""Self-describing errors: every named error the domain raises says its status, code and title, so each edge (API,
dashboard, playground) maps them in one line; Bearer parsing lives in one module."""
from __future__ import annotations

import re
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from pixelforge.bearer import bearer_token, challenge
from pixelforge.credits import InsufficientCredits
from pixelforge.decode_budget import DecodeBusy
from pixelforge.errors import PixelForgeError
from pixelforge.idempotency import IdempotencyConflict
from pixelforge.jobs import JobAlreadyFinal, JobHasNoResult, JobNotFinished, JobNotFound, ResultExpired
from pixelforge.operations import DuplicateOperation, UnknownOperation, ValidationFailed
from pixelforge.queue import QueueUnavailable
from pixelforge.ratelimit import RateDecision, RateLimited
from pixelforge.routing import ModelNotInstalled
from pixelforge.storage import ObjectMissing, StorageError, StorageFull
from pixelforge.webhooks import DeliveryNotFound

ROOT = Path(__file__).resolve().parents[1]


def job(status, code=None, message=None):
    return SimpleNamespace(id="j1", status=status, error_code=code, error_message=message)


CASES = [  # the error, its status, its code: the API's answers before errors described themselves
    (ValidationFailed("scale must be 2 or 4", "scale"), 422, "validation_error"),
    (ValidationFailed("no mask", "mask", "missing_file"), 422, "missing_file"),
    (InsufficientCredits(2, 1), 402, "insufficient_credits"),
    (QueueUnavailable("no worker"), 503, "service_unavailable"),
    (DecodeBusy("busy"), 503, "service_unavailable"),
    (JobNotFound("no job 'x'"), 404, "job_not_found"),
    (DeliveryNotFound("no delivery"), 404, "delivery_not_found"),
    (JobNotFinished("running"), 409, "job_not_finished"),
    (JobHasNoResult(job("failed", "no_face_found", "no face")), 502, "no_face_found"),
    (JobHasNoResult(job("failed")), 502, "job_failed"),
    (JobHasNoResult(job("cancelled")), 409, "job_cancelled"),
    (IdempotencyConflict("used"), 409, "idempotency_conflict"),
    (JobAlreadyFinal("done"), 409, "job_already_final"),
    (ResultExpired("gone"), 410, "result_expired"),
    (StorageFull("full"), 507, "insufficient_storage"),
    (StorageError("broken"), 502, "storage_error"),
    (ObjectMissing("missing"), 502, "storage_error"),
    (UnknownOperation("unknown operation 'colorize'"), 404, "unknown_operation"),
    (DuplicateOperation("two operations are named 'upscale'"), 500, "duplicate_operation"),
]


@pytest.mark.parametrize("error, status, code", CASES, ids=[type(case[0]).__name__ for case in CASES])
def test_each_named_error_says_its_status_code_and_title(error, status, code):
    assert isinstance(error, PixelForgeError)
    assert (error.status, error.code) == (status, code)
    assert error.title and error.api_message() and error.person_message()


def test_the_messages_and_headers_the_api_gave_before():
    assert JobNotFound("no job 'x'").api_message() == "job not found"
    assert StorageFull("disk full").api_message() == "disk full; nothing was charged, retry later"
    assert StorageFull("disk full").headers() == {"Retry-After": "60"}
    assert QueueUnavailable("down").headers() == {"Retry-After": "30"}
    assert IdempotencyConflict("x").param == "Idempotency-Key"
    limited = RateLimited(RateDecision(allowed=False, limit=60, remaining=0, reset_at=time.time() + 12))
    assert limited.status == 429 and limited.headers()["Retry-After"] == str(limited.decision.retry_after)
    assert ModelNotInstalled("no worker has it").status == 503


def test_the_edges_map_errors_without_an_isinstance_ladder():
    for path in ("pixelforge/api/errors.py", "ui/runner.py"):
        checked = set(re.findall(r"isinstance\(exc, \(?([\w, ]+)", (ROOT / path).read_text()))
        assert checked <= {"PixelForgeError", "HTTPException"}, path


def test_an_engine_failure_is_a_named_error_with_its_own_code():
    from workers.engines.base import EngineError, NoFaceFound

    assert isinstance(NoFaceFound(), PixelForgeError) and NoFaceFound().code == "no_face_found"
    assert EngineError("bad input").code == "inference_error" and str(EngineError("bad input")) == "bad input"


@pytest.mark.parametrize("header, token", [
    ("Bearer pfk_abc", "pfk_abc"), ("bearer  pfk_abc ", "pfk_abc"), ("Basic abc", None), ("Bearer ", None),
    (None, None), ("", None),
])
def test_bearer_parsing(header, token):
    assert bearer_token(header) == token


def test_bearer_challenges():
    assert challenge() == 'Bearer realm="pixelforge"'
    assert challenge("invalid_token") == 'Bearer realm="pixelforge", error="invalid_token"'


def test_only_the_bearer_module_parses_authorization_headers():
    signs = ("Bearer realm", 'f"Bearer {', '"bearer"', "partition(\" \")")
    hits = [f"{path.relative_to(ROOT)}: {sign}" for package in ("pixelforge", "ui")
            for path in (ROOT / package).rglob("*.py") if path.name != "bearer.py"
            for sign in signs if sign in path.read_text() and "Authorization" in path.read_text()]
    assert hits == []
