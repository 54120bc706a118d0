"""A platform database of its own, as ``jutong ingest`` and the background worker meet it in production.

The end-to-end tests run the command line (in-process, or as a real child process that can be killed)
against a database that is not the test's rolled-back connection: a SQLite file or a fresh PostgreSQL
database. This module prepares one (migrations, national standards, 公安局 and 民政局) and publishes the
demo's 常住人口基础信息 into it, exactly the items ``jutong.demo.datagen`` writes, with 公安局's mapping of
its 0/1 sex codes to GB/T 2261.1, so a generated file loads with the counts its manifest promises.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from jutong.catalog import service as catalog_service
from jutong.catalog import workflow
from jutong.catalog.models import Resource
from jutong.catalog.schemas import ResourceIn
from jutong.catalog.standards import ensure_national_standards
from jutong.core.auth import CLI_PRINCIPAL
from jutong.core.db import make_engine
from jutong.core.migrate import upgrade
from jutong.demo import datagen
from jutong.demo.catalog import POPULATION, REGISTRY
from jutong.ingest.models import Load, Mapping, Reject, ResourceData
from jutong.registry import accounts
from tests.conftest import drop_postgres_database, fresh_postgres_database

POLICE_MAPPING = "公安人口库"  # 公安 writes sex 0=男 1=女; GB/T 2261.1 is 1/2


@contextmanager
def platform_database(backend: str, folder: Path, purpose: str) -> Iterator[str]:
    """The URL of a prepared, empty platform database (dropped afterwards on PostgreSQL)."""
    if backend == "sqlite":
        url = f"sqlite:///{folder / f'{purpose}.db'}"
        prepare(url)
        yield url
        return
    url, admin = fresh_postgres_database(purpose)
    try:
        prepare(url)
        yield url
    finally:
        drop_postgres_database(admin, make_url(url).database)


@contextmanager
def platform_in_use(backend: str, folder: Path, purpose: str, monkeypatch: Any) -> Iterator[Engine]:
    """A prepared platform database that the app, the command line and background work all use, as in
    production (settings, engine and both session factories point at it), until the block ends."""
    from jutong.core import db
    from jutong.core.config import get_settings
    from jutong.web import deps

    with platform_database(backend, folder, purpose) as url:
        monkeypatch.setenv("JUTONG_DATABASE_URL", url)
        get_settings.cache_clear()
        engine = make_engine(url)
        factory = sessionmaker(bind=engine, expire_on_commit=False)
        monkeypatch.setattr(db, "_engine", engine)
        monkeypatch.setattr(db, "_session_factory", factory)
        monkeypatch.setattr(deps, "session_factory", factory)
        try:
            yield engine
        finally:
            engine.dispose()
            get_settings.cache_clear()


def prepare(url: str) -> None:
    """Migrations, the national standards and the two departments of the seed's sex-code story."""
    engine = make_engine(url)
    try:
        upgrade(engine)
        with Session(engine) as session:
            ensure_national_standards(session)
            accounts.upsert_region(session, "340000", "示范省")
            accounts.upsert_region(session, "341000", "示范市", "340000")
            accounts.upsert_department(session, "GA", "市公安局", "341000")
            accounts.upsert_department(session, "MZ", "市民政局", "341000")
            session.commit()
    finally:
        engine.dispose()


def publish_population(engine: Engine) -> Resource:
    """公安局's 常住人口基础信息 as the demo catalog has it, published, with the police mapping saved."""
    demo = next(r for r in REGISTRY if r.name == POPULATION)
    spec = datagen.resource_spec(POPULATION)
    with Session(engine, expire_on_commit=False) as session:
        police = accounts.upsert_department(session, "GA", "市公安局", "341000")
        data = ResourceIn.model_validate(
            {
                "classification_code": demo.classification_code,
                "name": demo.name,
                "department_id": police.id,
                "summary": demo.summary,
                "format_category": demo.format_category,
                "format_type": demo.format_type,
                "share_type": demo.share_type,
                "share_condition": demo.share_condition,
                "delivery": demo.delivery,
                "open_type": demo.open_type,
                "update_cycle": demo.update_cycle,
                "items": [
                    {
                        "name": c.name,
                        "column_name": c.column,
                        "element_identifier": c.element,
                        "is_key": c.key,
                        "required": c.key,
                    }
                    for c in spec.columns
                ],
            }
        )
        resource = catalog_service.save_resource(session, CLI_PRINCIPAL, data)
        workflow.submit(session, CLI_PRINCIPAL, resource.id)
        workflow.publish(session, CLI_PRINCIPAL, resource.id)
        session.add(
            Mapping(resource_id=resource.id, name=POLICE_MAPPING, values={"xbdm": {"0": "1", "1": "2"}})
        )
        session.commit()
        return resource


# ---- reading the outcome back ------------------------------------------------------------------


def data_state(engine: Engine, resource_id: int) -> tuple[int, int]:
    """(data version, row count) as the control plane records it; (0, 0) before the first load."""
    with Session(engine) as session:
        data = session.scalar(select(ResourceData).where(ResourceData.resource_id == resource_id))
        return (data.data_version, data.row_count) if data else (0, 0)


def live_rows(engine: Engine, resource_id: int) -> list[tuple[Any, ...]]:
    """Every row of the live table, by key: what a reader of the resource sees."""
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                text(f"SELECT gmsfhm, _hash, _version FROM dp_{resource_id} ORDER BY gmsfhm")
            )
        ]


def staging_tables(engine: Engine, resource_id: int) -> list[str]:
    """Tables a load builds next to the live one (``dp_<id>__l<load>`` / ``__s<load>``) that are visible."""
    pattern = re.compile(rf"^dp_{resource_id}__[ls]\d+$")
    return [name for name in inspect(engine).get_table_names() if pattern.match(name)]


def loads(engine: Engine, resource_id: int) -> list[Load]:
    with Session(engine, expire_on_commit=False) as session:
        return list(session.scalars(select(Load).where(Load.resource_id == resource_id).order_by(Load.id)))


def reject_count(engine: Engine, load_id: int) -> int:
    with Session(engine) as session:
        return len(session.scalars(select(Reject.id).where(Reject.load_id == load_id)).all())
