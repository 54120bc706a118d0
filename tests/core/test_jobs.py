"""Background jobs survive restarts: claimed with a lease, retried with backoff, enqueued once per key."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from jutong.core import jobs
from jutong.core.db import utcnow
from jutong.core.jobs import Job

CALLS: list[dict[str, Any]] = []


@jobs.handler("test.echo")
def _echo(session: Session, payload: dict[str, Any]) -> dict[str, Any]:
    CALLS.append(payload)
    if payload.get("fail_times", 0) > sum(1 for c in CALLS if c == payload) - 1:
        raise RuntimeError("对方系统暂时不可用")
    return {"echo": payload["n"]}


@pytest.fixture(autouse=True)
def _fresh_calls() -> None:
    CALLS.clear()


def _job(session: Session, job_id: int) -> Job:
    job = session.get(Job, job_id, populate_existing=True)
    assert job is not None
    return job


def test_a_due_job_runs_once_and_keeps_its_result(session: Session, units_of_work: None) -> None:
    job = jobs.enqueue(session, "test.echo", {"n": 1})
    later = jobs.enqueue(session, "test.echo", {"n": 2}, run_at=utcnow() + timedelta(hours=1))
    assert job is not None and later is not None
    session.commit()
    assert jobs.run_due() == 1
    assert CALLS == [{"n": 1}]
    done = _job(session, job.id)
    assert done.status == "succeeded" and done.result == {"echo": 1} and done.attempts == 1
    assert _job(session, later.id).status == "queued"  # not due yet
    assert jobs.run_due() == 0


def test_a_failing_job_is_retried_with_backoff_then_gives_up(session: Session, units_of_work: None) -> None:
    job = jobs.enqueue(session, "test.echo", {"n": 3, "fail_times": 9}, max_attempts=2)
    assert job is not None
    session.commit()
    jobs.run_one()
    first = _job(session, job.id)
    assert first.status == "queued" and "暂时不可用" in first.last_error
    assert first.run_at > utcnow() + timedelta(seconds=jobs.BACKOFF_BASE_SECONDS - 5)  # waits before retrying
    assert jobs.run_one() is None  # not due yet
    jobs.run_one(now=first.run_at + timedelta(seconds=1))
    given_up = _job(session, job.id)
    assert given_up.status == "failed" and given_up.attempts == 2 and given_up.finished_at is not None


def test_a_job_whose_worker_died_is_taken_again_after_its_lease(
    session: Session, units_of_work: None
) -> None:
    job = jobs.enqueue(session, "test.echo", {"n": 4})
    assert job is not None
    session.commit()
    claimed = jobs.claim(session, "a-worker-that-will-die")
    assert claimed is not None and claimed.id == job.id
    session.commit()
    assert jobs.claim(session, "another") is None  # leased
    jobs.run_one(now=utcnow() + jobs.LEASE + timedelta(seconds=1))
    again = _job(session, job.id)
    assert again.status == "succeeded" and again.attempts == 2 and CALLS == [{"n": 4}]


def test_a_key_enqueues_a_job_only_once(session: Session) -> None:
    assert jobs.enqueue(session, "test.echo", {"n": 5}, key="pull:1:2026-11-24") is not None
    assert jobs.enqueue(session, "test.echo", {"n": 5}, key="pull:1:2026-11-24") is None
    assert len(session.scalars(select(Job).where(Job.key == "pull:1:2026-11-24")).all()) == 1
