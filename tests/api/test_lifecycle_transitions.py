"""The lifecycle is the one place a job's status changes: each transition writes exactly one event row in its
transaction, and a second attempt of the same transition changes nothing, charges nothing and refunds nothing."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from pixelforge import lifecycle
from pixelforge.credits import ledger_total
from pixelforge.extensions import db
from pixelforge.models import CreditEntry, Job, JobEvent, JobStatus, User
from conftest import image_bytes

ROOT = Path(__file__).resolve().parents[2]
LIFECYCLE = ROOT / "pixelforge" / "lifecycle"
JOB_UPDATE = re.compile(r"update\(\s*(Job\b|JOBS\b|table\b|Job\.__table__)|Job\.__table__\.update|\bjob\.status\s*=(?!=)")


def test_only_the_lifecycle_updates_the_jobs_status():
    """Grep-level: an UPDATE of the jobs table, or a job's status assigned, outside pixelforge/lifecycle/ is a
    transition that webhooks, metrics and the event stream would not see."""
    offenders = []
    for package in ("pixelforge", "workers", "ui"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if LIFECYCLE in path.parents:
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if JOB_UPDATE.search(line):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []


def test_the_grep_sees_the_forms_a_status_change_takes():
    for line in ("update(Job).where(Job.id == job_id)", "update(Job.__table__)", "job.status = 'done'",
                 "Job.__table__.update()", "update(JOBS).where(",
                 "update(table).where(table.c.id == job_id)"):
        assert JOB_UPDATE.search(line), line
    for line in ("if job.status == 'failed':", "update(User).where(User.id == user_id)"):
        assert not JOB_UPDATE.search(line), line


def events(job_id: str) -> list[str]:
    db.session.expire_all()
    return list(db.session.scalars(db.select(JobEvent.kind).where(JobEvent.job_id == job_id).order_by(JobEvent.id)))


def state(job_id: str, user_id: int) -> tuple:
    """Everything a transition may change: the job row, the balance, the ledger and the events."""
    db.session.expire_all()
    job = db.session.get(Job, job_id)
    entries = db.session.scalar(db.select(db.func.count(CreditEntry.id)).where(CreditEntry.user_id == user_id))
    return (job.status, job.error_code, job.finished_at, job.refunded, db.session.get(User, user_id).credits,
            entries, tuple(events(job_id)))


def queued_job(api) -> str:
    return api.submit("enhance", image_bytes()).get_json()["job_id"]


def processing_job(api) -> str:
    job_id = queued_job(api)
    assert lifecycle.claim(job_id, "test-worker") is not None
    return job_id


ENDINGS = {  # transition, the status it leaves from, the status and error code it ends in
    "fail": (lambda job_id: lifecycle.fail(job_id, "test_failure", "failed on purpose"), queued_job,
             JobStatus.FAILED, "test_failure"),
    "cancel": (lifecycle.cancel, processing_job, JobStatus.CANCELLED, "cancelled"),
    "reap": (lifecycle.reap, processing_job, JobStatus.FAILED, "worker_lost"),
    "expire": (lifecycle.expire, queued_job, JobStatus.FAILED, "queue_timeout"),
}


@pytest.mark.parametrize("name", sorted(ENDINGS))
def test_an_unsuccessful_ending_writes_one_event_refunds_once_and_happens_once(api, name):
    transition, make_job, status, code = ENDINGS[name]
    job_id = make_job(api)
    before = events(job_id)
    assert api.user.credits == 9
    assert transition(job_id) is True
    assert events(job_id) == [*before, status]
    after = state(job_id, api.user_id)
    assert after[:2] == (status, code) and after[4] == 10 == ledger_total(api.user_id)
    assert transition(job_id) is False
    assert state(job_id, api.user_id) == after


def test_claim_and_finish_each_write_one_event_and_happen_once(api):
    job_id = queued_job(api)
    assert lifecycle.claim(job_id, "test-worker") is not None
    assert events(job_id) == ["queued", "processing"]
    claimed = state(job_id, api.user_id)
    assert lifecycle.claim(job_id, "another-worker") is None
    assert state(job_id, api.user_id) == claimed and db.session.get(Job, job_id).worker_name == "test-worker"

    result = lifecycle.JobResult("jobs/x/result.png", "image/png", "classical", None, {"width": 1})
    assert lifecycle.finish(job_id, result) is not None
    assert events(job_id) == ["queued", "processing", "done"]
    done = state(job_id, api.user_id)
    assert done[0] == JobStatus.DONE and done[4] == 9 == ledger_total(api.user_id)
    assert lifecycle.finish(job_id, result) is None
    for ending in (lambda j: lifecycle.fail(j, "late", "late"), lifecycle.cancel, lifecycle.reap, lifecycle.expire):
        assert ending(job_id) is False
    assert state(job_id, api.user_id) == done


def test_a_finished_job_takes_no_progress_and_a_queued_one_cannot_be_reaped(api):
    job_id = queued_job(api)
    assert lifecycle.progress(job_id, 0.5, with_event=True) is False  # not processing yet
    assert lifecycle.reap(job_id) is False  # reaping is for processing jobs whose worker went silent
    assert events(job_id) == ["queued"]
    assert lifecycle.claim(job_id, "w") is not None
    assert lifecycle.progress(job_id, 0.5, with_event=True) is True
    assert lifecycle.expire(job_id) is False  # expiring is for jobs no worker took
    assert lifecycle.cancel(job_id) is True
    assert lifecycle.progress(job_id, 0.6, with_event=True) is False
    assert events(job_id) == ["queued", "processing", "progress", "cancelled"]
