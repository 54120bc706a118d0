"""Durable background jobs (后台任务): large loads, scheduled pulls, deliveries, reminders.

A job is a row: it survives restarts. A worker claims a due job with a lease (``locked_until``); a
worker that dies leaves its lease to expire and another worker takes the job again, so handlers
must be safe to re-run (ingest loads are: a re-run is a new load over the same data). A failure is
retried with exponential backoff up to ``max_attempts``, then the job is marked failed with its
reason. ``key`` makes enqueueing idempotent (a scheduled pull is enqueued once per due time).

Handlers are plain functions ``handler(session, payload) -> dict | None`` registered by kind; each
runs in its own unit of work, committed when it returns.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from jutong.core import db
from jutong.core.db import Base, UTCDateTime, utcnow
from jutong.core.labels import LabeledEnum, register_labels

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=10)
BACKOFF_BASE_SECONDS = 30


class JobStatus(LabeledEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"


register_labels(
    {
        JobStatus.queued: "排队中",
        JobStatus.running: "运行中",
        JobStatus.succeeded: "已完成",
        JobStatus.failed: "失败",
    }
)


class Job(Base):
    __tablename__ = "job"
    __table_args__ = (Index("ix_job_status_run_at", "status", "run_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    key: Mapped[str | None] = mapped_column(String(200), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(32), default=JobStatus.queued.value)
    run_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=5)
    locked_by: Mapped[str | None] = mapped_column(String(100))
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


Handler = Callable[[Session, dict[str, Any]], dict[str, Any] | None]
_HANDLERS: dict[str, Handler] = {}
# called on every worker tick before claiming (e.g. enqueue scheduled pulls that are due)
_TICKS: list[Callable[[Session, datetime], None]] = []


def handler(kind: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        _HANDLERS[kind] = fn
        return fn

    return register


def on_tick(fn: Callable[[Session, datetime], None]) -> Callable[[Session, datetime], None]:
    _TICKS.append(fn)
    return fn


def enqueue(
    session: Session,
    kind: str,
    payload: dict[str, Any] | None = None,
    *,
    run_at: datetime | None = None,
    key: str | None = None,
    max_attempts: int = 5,
    created_by: int | None = None,
) -> Job | None:
    """Add a job; with ``key``, a second enqueue of the same key is ignored (returns None)."""
    job = Job(
        kind=kind,
        key=key,
        payload=payload or {},
        run_at=run_at or utcnow(),
        max_attempts=max_attempts,
        created_by=created_by,
    )
    if key is not None:
        if session.scalar(select(Job.id).where(Job.key == key)) is not None:
            return None
        try:
            with session.begin_nested():
                session.add(job)
        except IntegrityError:  # another process enqueued it between the check and the insert
            return None
        return job
    session.add(job)
    session.flush()
    return job


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def claim(session: Session, worker: str, now: datetime | None = None) -> Job | None:
    """Take the next due job (queued, or running with an expired lease) and lease it to ``worker``."""
    now = now or utcnow()
    due = (
        select(Job.id)
        .where(
            ((Job.status == JobStatus.queued.value) & (Job.run_at <= now))
            | ((Job.status == JobStatus.running.value) & (Job.locked_until < now))
        )
        .order_by(Job.run_at, Job.id)
        .limit(1)
    )
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    job_id = session.execute(
        update(Job)
        .where(Job.id == due.scalar_subquery())
        .values(
            status=JobStatus.running.value,
            locked_by=worker,
            locked_until=now + LEASE,
            attempts=Job.attempts + 1,
        )
        .returning(Job.id)
    ).scalar()
    if job_id is None:
        return None
    job = session.get(Job, job_id, populate_existing=True)
    return job


def run_one(worker: str | None = None, now: datetime | None = None) -> Job | None:
    """Claim and run one due job in its own units of work; returns it (None when nothing was due)."""
    worker = worker or worker_name()
    with db.session_scope() as session:
        job = claim(session, worker, now)
        if job is None:
            return None
        job_id, kind, payload, attempts, max_attempts = (
            job.id,
            job.kind,
            dict(job.payload),
            job.attempts,
            job.max_attempts,
        )
    try:
        fn = _HANDLERS.get(kind)
        if fn is None:
            raise LookupError(f"未知的任务类型：{kind}")
        with db.session_scope() as session:
            result = fn(session, payload)
            session.execute(
                update(Job)
                .where(Job.id == job_id)
                .values(
                    status=JobStatus.succeeded.value,
                    result=result,
                    finished_at=utcnow(),
                    locked_until=None,
                    last_error="",
                )
            )
    except Exception as exc:  # recorded on the job and retried; the worker goes on
        log.exception("job %s (%s) failed", job_id, kind)
        with db.session_scope() as session:
            failed = attempts >= max_attempts
            session.execute(
                update(Job)
                .where(Job.id == job_id)
                .values(
                    status=JobStatus.failed.value if failed else JobStatus.queued.value,
                    run_at=utcnow() + timedelta(seconds=BACKOFF_BASE_SECONDS * 2 ** (attempts - 1)),
                    last_error=str(exc)[:2000],
                    locked_until=None,
                    finished_at=utcnow() if failed else None,
                )
            )
    with db.session_scope() as session:
        return session.get(Job, job_id)


def tick(now: datetime | None = None) -> None:
    """Run the periodic hooks (each in its own unit of work)."""
    for fn in _TICKS:
        try:
            with db.session_scope() as session:
                fn(session, now or utcnow())
        except Exception:
            log.exception("job tick %s failed", getattr(fn, "__name__", fn))


def run_due(limit: int = 100, now: datetime | None = None) -> int:
    """One pass: the hooks, then up to ``limit`` due jobs. Returns how many ran."""
    tick(now)
    done = 0
    while done < limit and run_one(now=now) is not None:
        done += 1
    return done


class JobWorker:
    """Runs due jobs every few seconds in a thread while the server runs."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="job-worker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                run_due()
            except Exception:  # the next tick tries again; jobs stay in the table
                log.exception("job worker pass failed")
