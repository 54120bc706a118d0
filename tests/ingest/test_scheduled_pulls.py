"""Scheduled pulls: a department's database is read on its resource's update cycle, by durable jobs.

The story: 民政局 registers its MariaDB (or PostgreSQL) table of 低保对象 as the source of its daily
resource, scheduled. The background worker's tick finds it due, enqueues one pull for that due time
(never two, however many workers tick), runs it, and the resource gets a data version with the rows;
the next pull waits a day. When the source database is down the pull's load fails with the reason and
the data stays as it was. A worker that dies mid-pull leaves its job to be taken again once its lease
runs out, and the job finishes.

The sources are the real local MariaDB (127.0.0.1:3306) and PostgreSQL servers; each test makes its own
table and drops it. The jobs run in their own units of work (``units_of_work``).
"""

from __future__ import annotations

import socket
import subprocess
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from jutong.core import jobs
from jutong.core.db import utcnow
from jutong.core.jobs import Job
from jutong.ingest import dataplane, pipeline, service
from jutong.ingest.models import Load, ResourceData, Source, SourceKind
from jutong.standards.codes import cn_id_check_char
from tests.conftest import Org, drop_postgres_database, fresh_postgres_database
from tests.ingest.conftest import Resources

MARIADB = "mysql+pymysql://root@127.0.0.1:3306/test"


def person_id(n: int) -> str:
    first17 = f"34100219850611{n:03d}"
    return first17 + cn_id_check_char(first17)


RECIPIENTS = [(1, person_id(1), "张三", "1"), (2, person_id(2), "李梅", "2"), (3, person_id(3), "王芳", "2")]


def query(table: str) -> str:
    return f"SELECT sfzh AS 公民身份号码, xm AS 姓名, xb AS 性别代码 FROM {table} ORDER BY id"


def _create(engine: Engine, table: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(f"CREATE TABLE {table} (id INT PRIMARY KEY, sfzh CHAR(18), xm VARCHAR(50), xb CHAR(1))")
        )
        for row in RECIPIENTS:
            conn.execute(
                text(f"INSERT INTO {table} VALUES (:i, :s, :x, :b)"), dict(zip("isxb", row, strict=True))
            )


@pytest.fixture
def mariadb_table() -> Iterator[str]:
    """民政局's MariaDB table of 低保对象 (a table of our own, dropped afterwards)."""
    engine = create_engine(MARIADB)
    table = f"dibao_{uuid.uuid4().hex[:12]}"
    try:
        _create(engine, table)
    except Exception as exc:
        engine.dispose()
        pytest.skip(f"MariaDB（127.0.0.1:3306）不可用：{exc.__class__.__name__}: {exc}")
    yield table
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
    engine.dispose()


@pytest.fixture(scope="module")
def postgres_source() -> Iterator[str]:
    """A scratch PostgreSQL database standing for another department's system; its URL."""
    url, admin = fresh_postgres_database("pullsrc")
    engine = create_engine(url)
    _create(engine, "dibao")
    engine.dispose()
    yield url
    drop_postgres_database(admin, make_url(url).database)


def schedule(session: Session, org: Org, resources: Resources, url: str, table: str) -> Source:
    source = service.save_source(
        session,
        org.principal(org.civil_steward),
        resources.assistance,
        name="民政低保库",
        kind=SourceKind.sql,
        config={"url": url, "query": query(table), "timeout_seconds": 5},
        scheduled=True,
    )
    session.commit()
    return source


def pull_jobs(session: Session) -> list[Job]:
    return list(
        session.scalars(
            select(Job)
            .where(Job.kind == "ingest.pull")
            .order_by(Job.id)
            .execution_options(populate_existing=True)
        )
    )


def stored(session: Session, resources: Resources) -> list[tuple[Any, ...]]:
    table, _ = dataplane.table_names(resources.assistance.id)
    return [tuple(r) for r in session.execute(text(f"SELECT gmsfhm, xm, xbdm FROM {table} ORDER BY gmsfhm"))]


def data_version(session: Session, resources: Resources) -> int:
    data = session.scalar(
        select(ResourceData)
        .where(ResourceData.resource_id == resources.assistance.id)
        .execution_options(populate_existing=True)
    )
    return data.data_version if data else 0


def resource_loads(session: Session, resources: Resources) -> list[Load]:
    return list(
        session.scalars(
            select(Load)
            .where(Load.resource_id == resources.assistance.id)
            .order_by(Load.id)
            .execution_options(populate_existing=True)
        )
    )


def test_a_due_source_is_pulled_once_per_due_time_and_then_waits_for_its_update_cycle(
    session: Session, org: Org, resources: Resources, units_of_work: None, mariadb_table: str
) -> None:
    source = schedule(session, org, resources, MARIADB, mariadb_table)
    due = source.next_run_at
    assert due is not None
    cycle = service.CYCLE_INTERVALS[resources.assistance.update_cycle]
    assert cycle == timedelta(days=1)  # 每日

    ticked = utcnow()
    assert jobs.run_due() == 1

    (job,) = pull_jobs(session)
    assert job.key == f"ingest.pull:{source.id}:{due.isoformat()}"
    assert job.status == "succeeded" and job.attempts == 1 and job.result is not None
    assert job.result["status"] == "succeeded" and job.result["data_version"] == 1
    assert (job.result["read"], job.result["loaded"], job.result["rejected"]) == (3, 3, 0)
    assert stored(session, resources) == [(p, n, s) for _, p, n, s in RECIPIENTS]
    (load,) = resource_loads(session, resources)
    assert load.source_id == source.id and load.file_format == "sql" and load.status == "succeeded"
    session.refresh(source)
    assert source.next_run_at is not None and ticked + cycle <= source.next_run_at <= utcnow() + cycle

    # not due yet: the next pass does nothing
    assert jobs.run_due() == 0
    assert len(pull_jobs(session)) == 1

    # two workers ticking for the same due time: the job's key makes it one pull
    following = source.next_run_at
    source.next_run_at = due
    session.commit()
    jobs.tick()
    assert len(pull_jobs(session)) == 1
    session.refresh(source)
    source.next_run_at = following
    session.commit()

    # a day later: the next due time gets its own pull and a new data version
    later = following + timedelta(seconds=1)
    assert jobs.run_due(now=later) == 1
    _, second = pull_jobs(session)
    assert second.key == f"ingest.pull:{source.id}:{following.isoformat()}" and second.status == "succeeded"
    assert second.result is not None and second.result["data_version"] == 2
    assert second.result["unchanged"] == 3 and second.result["inserted"] == 0
    assert data_version(session, resources) == 2
    session.refresh(source)
    assert source.next_run_at == later + cycle


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("mysql+pymysql://root@127.0.0.1:1/test", "source_unreachable"),  # nothing listens there
        ("mysql+pymysql://root:not-the-password@127.0.0.1:3306/test", "source_refused"),
    ],
)
def test_a_source_database_that_is_down_fails_the_pull_and_keeps_the_data(
    session: Session,
    org: Org,
    resources: Resources,
    units_of_work: None,
    mariadb_table: str,
    url: str,
    code: str,
) -> None:
    schedule(session, org, resources, MARIADB, mariadb_table)
    assert jobs.run_due() == 1
    before = stored(session, resources)

    moved = schedule(session, org, resources, url, mariadb_table)  # saving it again makes it due now
    assert jobs.run_due() == 1

    _, job = pull_jobs(session)
    if code == "source_unreachable":  # may work later: the job is retried with backoff, its error shown
        assert job.status == "queued" and job.attempts == 1 and code in job.last_error
        assert job.run_at > utcnow()
    else:  # a refusal will not fix itself: the job ends with the failed load's summary
        assert job.result is not None
        assert job.result["status"] == "failed" and job.result["error_code"] == code
    assert "not-the-password" not in str(job.result) + job.last_error
    _, failed = resource_loads(session, resources)
    assert failed.status == "failed" and failed.error_code == code and failed.source_id == moved.id
    assert "数据库" in failed.error_message and failed.data_version is None
    assert stored(session, resources) == before and data_version(session, resources) == 1


def test_a_postgresql_table_of_another_department_is_pulled_on_schedule(
    session: Session, org: Org, resources: Resources, units_of_work: None, postgres_source: str
) -> None:
    schedule(session, org, resources, postgres_source, "dibao")

    assert jobs.run_due() == 1

    (job,) = pull_jobs(session)
    assert job.status == "succeeded" and job.result is not None and job.result["loaded"] == 3
    assert stored(session, resources) == [(p, n, s) for _, p, n, s in RECIPIENTS]
    assert data_version(session, resources) == 1


def test_a_pull_whose_worker_died_is_taken_again_after_its_lease_and_finishes(
    session: Session, org: Org, resources: Resources, units_of_work: None, mariadb_table: str
) -> None:
    schedule(session, org, resources, MARIADB, mariadb_table)
    jobs.tick()
    (job,) = pull_jobs(session)
    # a worker takes the job and starts its load, then dies (its process is gone)
    gone = subprocess.Popen(["true"])
    gone.wait()
    assert jobs.claim(session, f"{socket.gethostname()}:{gone.pid}:1") is not None
    dead = pipeline.start_load(session, resources.assistance, org.principal(org.operator), mode="full")
    dead.stats = {"worker": f"{socket.gethostname()}:{gone.pid}"}
    session.commit()
    assert jobs.run_due() == 0  # leased: nobody else takes it yet

    # the worker is restarted (or another one runs): after the lease the job is taken again
    assert jobs.run_one(now=utcnow() + jobs.LEASE + timedelta(seconds=1)) is not None

    (again,) = pull_jobs(session)
    assert again.id == job.id and again.status == "succeeded" and again.attempts == 2
    assert again.result is not None and again.result["status"] == "succeeded"
    interrupted, finished = resource_loads(session, resources)
    assert interrupted.id == dead.id and interrupted.status == "failed"
    assert interrupted.error_code == "load_interrupted"
    assert finished.status == "succeeded" and finished.data_version == 1
    assert stored(session, resources) == [(p, n, s) for _, p, n, s in RECIPIENTS]
