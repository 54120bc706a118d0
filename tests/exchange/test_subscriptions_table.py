"""库表推送: 民政局 has the granted view of 公安局's population kept in a table of its own database — a
real local MariaDB or PostgreSQL — copied once, then following every load in order.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from jutong.core.db import utcnow
from jutong.exchange import delivery
from jutong.exchange.masking import mask_value
from jutong.exchange.subscriptions import create_subscription
from jutong.sharing.models import Subscription
from tests.conftest import drop_postgres_database, fresh_postgres_database
from tests.exchange.conftest import PEOPLE, Served, make_grant, people_lines, person

MARIADB_URL = os.environ.get("JUTONG_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test")


@pytest.fixture(params=["mariadb", "postgresql"])
def target(request: pytest.FixtureRequest) -> Iterator[tuple[str, Engine]]:
    """The consumer's own database: its URL and an engine to look into it."""
    admin: Engine | None = None
    if request.param == "mariadb":
        url = MARIADB_URL
        try:
            with create_engine(url).connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:
            if os.environ.get("CI"):
                pytest.fail(f"MariaDB 不可用：{exc}", pytrace=False)
            pytest.skip(f"MariaDB 不可用：{exc}")
    else:
        url, admin = fresh_postgres_database("push")
    engine = create_engine(url)
    yield url, engine
    delivery.dispose_engines()
    engine.dispose()
    if admin is not None:
        drop_postgres_database(admin, create_engine(url).url.database)


@pytest.fixture
def table_name(engine: Engine, target: tuple[str, Engine]) -> Iterator[str]:
    # one MariaDB database serves every test process: a name of this process and platform backend
    name = f"mz_rk_{engine.dialect.name}_{os.getpid()}"
    yield name
    with target[1].begin() as conn:
        conn.execute(text(f"DROP TABLE IF EXISTS {name}"))


def consumer_rows(engine: Engine, table: str) -> dict[str, tuple[Any, ...]]:
    with engine.connect() as conn:
        found = conn.execute(text(f"SELECT gmsfhm, xm, xbdm, csrq FROM {table}"))
        return {r[0]: (r[1], r[2], str(r[3])[:10]) for r in found}


def refuse_writes(engine: Engine, table: str) -> None:
    """The consumer adds a required column the platform does not know: its inserts fail."""
    with engine.begin() as conn:
        conn.execute(text(f"ALTER TABLE {table} ADD COLUMN jbr VARCHAR(20) NOT NULL DEFAULT 'x'"))
        conn.execute(text(f"ALTER TABLE {table} ALTER COLUMN jbr DROP DEFAULT"))


def accept_writes(engine: Engine, table: str) -> None:
    with engine.begin() as conn:
        conn.execute(text(f"ALTER TABLE {table} ALTER COLUMN jbr SET DEFAULT '-'"))


def expected(numbers: range, rename: dict[int, str] | None = None) -> dict[str, tuple[Any, ...]]:
    return {
        person(n)[0]: (mask_value("name", (rename or {}).get(n, person(n)[1])), person(n)[2], "1990-03-07")
        for n in numbers
    }


def push_grant(session: Session, served: Served) -> Any:
    # the key as stored (rows are upserted by it), the name masked, the birth date granted
    return make_grant(
        session, served.org, served.resource, items=["gmsfhm", "xm", "xbdm", "csrq"], masking={"xm": "name"}
    )


def test_the_consumer_table_is_copied_then_follows_each_load_and_resumes_after_a_failure(
    session: Session, served: Served, target: tuple[str, Engine], table_name: str
) -> None:
    url, consumer = target
    grant = push_grant(session, served)
    created = create_subscription(
        session, served.consumer, grant_id=grant.id, kind="table", url=url, table=table_name
    )
    session.commit()
    sub = created.subscription
    assert created.secret == "" and sub.acked_version == 0

    # the first run creates the table and copies the granted view as of version 1
    assert delivery.deliver(session, sub.id)["delivered"] == [1]
    assert consumer_rows(consumer, table_name) == expected(range(1, PEOPLE + 1))
    columns = {str(c["name"]).lower() for c in inspect(consumer).get_columns(table_name)}
    assert columns == {"gmsfhm", "xm", "xbdm", "csrq"}  # nothing outside the grant

    # a load: renamed, removed and added people arrive as one transaction
    served.reload(
        session, people_lines(range(1, PEOPLE - 1), rename={2: "李新名"}) + people_lines(range(31, 33))[1:]
    )
    assert delivery.deliver(session, sub.id)["delivered"] == [2]
    assert consumer_rows(consumer, table_name) == expected(
        range(1, PEOPLE - 1), rename={2: "李新名"}
    ) | expected(range(31, 33))

    # the consumer's table refuses writes for a while (a new required column): two loads wait
    refuse_writes(consumer, table_name)
    served.reload(session, people_lines(range(1, PEOPLE - 1), rename={2: "李新名", 3: "王改"}), "v3.csv")
    served.reload(session, people_lines(range(4, PEOPLE - 1), rename={2: "李新名", 3: "王改"}), "v4.csv")
    now = utcnow()
    failed = delivery.deliver(session, sub.id, now=now)
    assert failed["failed"] == 3 and "写入目标库失败" in failed["error"]
    refreshed = session.get(Subscription, sub.id, populate_existing=True)
    assert refreshed is not None and (refreshed.acked_version, refreshed.attempts) == (2, 1)

    # repaired: versions 3 and 4 arrive in order, and the table is exactly the granted view
    accept_writes(consumer, table_name)
    assert delivery.deliver(session, sub.id, now=now + timedelta(seconds=31))["delivered"] == [3, 4]
    assert consumer_rows(consumer, table_name) == expected(
        range(4, PEOPLE - 1), rename={2: "李新名", 3: "王改"}
    )
    refreshed = session.get(Subscription, sub.id, populate_existing=True)
    assert refreshed is not None and (refreshed.acked_version, refreshed.attempts) == (4, 0)

    # a version delivered twice (at least once) leaves the table as it was
    refreshed.acked_version = 3
    session.commit()
    assert delivery.deliver(session, sub.id)["delivered"] == [4]
    assert consumer_rows(consumer, table_name) == expected(
        range(4, PEOPLE - 1), rename={2: "李新名", 3: "王改"}
    )
