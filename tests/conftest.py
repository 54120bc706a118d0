"""Shared fixtures: every database test runs on SQLite and on PostgreSQL.

Each backend's database is built once per test session by running the Alembic migrations
(never ``create_all``); each test then runs inside a transaction that is rolled back, and
the web app's requests join that transaction through SAVEPOINTs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from jutong.core import db
from jutong.core.auth import Principal, Role
from jutong.core.db import make_engine
from jutong.core.migrate import upgrade
from jutong.registry import accounts
from jutong.registry.models import Department, User

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PASSWORD = "Passw0rd!demo"


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashing() -> Iterator[None]:
    """Argon2 at its production cost makes every user fixture slow; the tests check behaviour, not cost."""
    from argon2 import PasswordHasher

    from jutong.core import security

    original = security._hasher
    security._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    yield
    security._hasher = original


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def fresh_postgres_database(purpose: str = "jutong") -> tuple[str, Engine]:
    """A fresh database for this test process (several runs may share one server): its URL and the
    admin engine that made it. No server: required in CI, skipped with the reason elsewhere."""
    base = make_url(os.environ.get("JUTONG_TEST_POSTGRES_URL", DEFAULT_PG_URL))
    name = f"{base.database or 'test'}_{purpose}_{_worker()}_{os.getpid()}"
    try:
        admin = create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        message = f"PostgreSQL 不可用（{base.render_as_string(hide_password=True)}）：{exc.__class__.__name__}: {exc}"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return base.set(database=name).render_as_string(hide_password=False), admin


def drop_postgres_database(admin: Engine, name: str | None) -> None:
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    admin: Engine | None = None
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("db") / "jutong.db"
        eng = make_engine(f"sqlite:///{path}")
    else:
        url, admin = fresh_postgres_database()
        eng = make_engine(url)
    upgrade(eng)
    yield eng
    eng.dispose()
    if admin is not None:
        drop_postgres_database(admin, eng.url.database)


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    conn = engine.connect()
    outer = conn.begin()
    try:
        yield conn
    finally:
        if outer.is_active:
            outer.rollback()
        conn.close()


def _session_on(conn: Connection) -> Session:
    return Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)


@pytest.fixture
def session(connection: Connection) -> Iterator[Session]:
    s = _session_on(connection)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def units_of_work(connection: Connection) -> Iterator[None]:
    """Code that opens its own units of work (``db.session_scope``: the CLI, background jobs) runs on the
    test's connection, each unit a SAVEPOINT, so the test sees what it committed and all is rolled back."""
    original = db._session_factory
    db._session_factory = lambda: _session_on(connection)  # type: ignore[assignment]
    try:
        yield
    finally:
        db._session_factory = original


@pytest.fixture
def app(connection: Connection, units_of_work: None) -> Iterator[object]:
    from jutong.web import deps
    from jutong.web.app import create_app

    original = deps.session_factory
    deps.session_factory = lambda: _session_on(connection)
    try:
        # the lookups' fast path reads committed rows on connections of its own: tests/exchange/test_fast_lookup.py
        yield create_app(seal_audit=False, fast_lookups=False)
    finally:
        deps.session_factory = original


@pytest.fixture
def client(app: object) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://testserver") as c:  # type: ignore[arg-type]
        yield c


@dataclass
class Org:
    """A small city: two departments and a user of each role."""

    police: Department  # 公安局
    civil: Department  # 民政局
    operator: User
    steward: User  # 公安局的部门数据管理员
    civil_steward: User  # 民政局的部门数据管理员
    auditor: User
    consumer: User  # 民政局的使用部门用户

    def principal(self, user: User) -> Principal:
        return accounts.principal_for(user, via="session")


@pytest.fixture
def org(session: Session) -> Org:
    accounts.upsert_region(session, "340000", "示范省")
    accounts.upsert_region(session, "341000", "示范市", "340000")
    police = accounts.upsert_department(session, "GA", "市公安局", "341000")
    civil = accounts.upsert_department(session, "MZ", "市民政局", "341000")

    def user(name: str, role: Role, dept: str | None = None) -> User:
        return accounts.create_user(
            session, username=name, password=PASSWORD, role=role, department_code=dept
        )

    org = Org(
        police=police,
        civil=civil,
        operator=user("op", Role.operator),
        steward=user("ga_steward", Role.steward, "GA"),
        civil_steward=user("mz_steward", Role.steward, "MZ"),
        auditor=user("auditor", Role.auditor),
        consumer=user("mz_consumer", Role.consumer, "MZ"),
    )
    session.commit()
    return org


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def login(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Sign in through the real form; returns the session's CSRF token for later forms."""
    page = client.get("/login")
    token = _CSRF.search(page.text)
    assert token, "login page has no CSRF field"
    response = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token.group(1)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    home = client.get("/")
    found = _CSRF.search(home.text)
    assert found
    return found.group(1)


def api_headers(session: Session, user: User) -> dict[str, str]:
    """An API key for ``user``, as a program would send it."""
    issued = accounts.issue_api_key(session, accounts.principal_for(user, via="session"), "tests")
    session.commit()
    return {"Authorization": f"Bearer {issued.token}"}
