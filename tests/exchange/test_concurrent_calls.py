"""Many calls at once with one application's key, on a real server and the platform's own database.

A worker once stopped under the first concurrent calls: the key was resolved on the event loop and
its last use written there, so the second call waited on the row lock of the first while holding the
loop that the first needed to go on (bench/exchange.py got no answer at all). Every call must be
answered, each recorded once.

On the embedded SQLite default the data services begin with the write lock (BEGIN IMMEDIATE) and take
turns; as a reader that then writes they were refused at once ("database is locked") whenever another
call had committed meanwhile.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from jutong.catalog.models import Resource
from jutong.cli.main import app as cli
from jutong.core import clock
from jutong.core.auth import CLI_PRINCIPAL, Role
from jutong.demo import datagen
from jutong.demo.datagen import DataOptions
from jutong.ingest.models import ResourceData
from jutong.registry import accounts
from jutong.sharing import applications, grants
from jutong.sharing.models import DataAccess
from tests.ingest.e2e_platform import POLICE_MAPPING, platform_in_use, publish_population
from tests.servers import serving

# all with the same key: on PostgreSQL more calls than the worker has threads; on SQLite, where writers take
# turns, fewer than its connection pool (15), since a call waiting for the write lock holds a connection
CALLS = {"postgresql": 48, "sqlite": 12}
PEOPLE = 60


@pytest.fixture(params=["sqlite", "postgresql"])
def platform(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Engine]:
    with platform_in_use(request.param, tmp_path, "concurrent", monkeypatch) as engine:
        yield engine


@pytest.fixture
def server(platform: Engine) -> Iterator[str]:
    from jutong.web.app import create_app

    with serving(create_app(seal_audit=False)) as url:
        yield url


def granted_key(engine: Engine, resource_id: int) -> str:
    """人社局's application, its key, and a live grant of two masked items."""
    with Session(engine, expire_on_commit=False) as session:
        accounts.upsert_department(session, "RS", "市人力资源和社会保障局", "341000")
        owner = accounts.create_user(
            session, username="rs_owner", password="concurrent-1", role=Role.consumer, department_code="RS"
        )
        principal = accounts.principal_for(owner, via="session")
        application = applications.create_application(session, principal, name="社保待遇认证系统")
        issued = applications.issue_key(session, principal, application.id, "并发")
        resource = session.get_one(Resource, resource_id)
        today = clock.today()
        grants.create_grant(
            session, CLI_PRINCIPAL, request=None, resource=resource, consumer_department_id=owner.department_id,
            items=["gmsfhm", "xm"], masking={"gmsfhm": "id_number", "xm": "name"},
            application_ids=[application.id], purpose="社会保险待遇资格认证", delivery="api",
            starts_on=today - timedelta(days=1), expires_on=today + timedelta(days=30), daily_quota=None,
        )  # fmt: skip
        session.commit()
        return issued.token


def test_many_concurrent_calls_with_one_key_are_all_answered_and_recorded(
    platform: Engine, server: str, tmp_path: Path
) -> None:
    resource = publish_population(platform)
    people = tmp_path / "人口.csv"
    datagen.generate(people, DataOptions(rows=PEOPLE, bad_share=0.0, fixable_share=0.0))
    loaded = CliRunner().invoke(cli, ["ingest", resource.code, str(people), "--mapping", POLICE_MAPPING])
    assert loaded.exit_code == 0, loaded.output
    token = granted_key(platform, resource.id)
    with Session(platform) as session:
        table = session.scalars(select(ResourceData.table_name)).one()
        calls = CALLS[platform.dialect.name]
        keys = [str(row[0]) for row in session.execute(text(f'SELECT gmsfhm FROM "{table}" LIMIT {calls}'))]
    assert len(keys) == calls

    async def call_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(
            base_url=server, headers={"Authorization": f"Bearer {token}"}, timeout=60
        ) as client:
            calls = [client.get(f"/api/v1/data/{resource.id}/records", params={"key": k}) for k in keys]
            return await asyncio.gather(*calls)

    began = time.monotonic()
    answers = asyncio.run(call_all())
    assert [a.status_code for a in answers] == [200] * len(keys), [
        a.text for a in answers if a.status_code != 200
    ][:3]
    assert all(a.json()["found"] and "*" in a.json()["record"]["xm"] for a in answers)
    assert time.monotonic() - began < 30  # answered, not timed out one by one
    with Session(platform) as session:
        assert session.scalar(select(func.count()).select_from(DataAccess)) == len(keys)
