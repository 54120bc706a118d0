"""``jutong audit seal`` / ``verify`` on a real database file: any edit, deletion or forged row is named."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, select, text
from typer.testing import CliRunner

from jutong.cli.main import app
from jutong.core import audit, db
from jutong.core.audit import AuditEvent, AuditSeal
from jutong.core.config import get_settings
from tests.conftest import drop_postgres_database, fresh_postgres_database

runner = CliRunner()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Engine]:
    """The platform pointed at its own database, as `jutong` would be by JUTONG_DATABASE_URL."""
    admin = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/jutong.db"
    else:
        url, admin = fresh_postgres_database("auditcli")
    monkeypatch.setenv("JUTONG_DATABASE_URL", url)
    get_settings.cache_clear()
    monkeypatch.setattr(db, "_engine", None)  # restored after the test
    monkeypatch.setattr(db, "_session_factory", None)
    engine = db.make_engine(url)
    db.set_engine(engine)
    yield engine
    engine.dispose()
    get_settings.cache_clear()
    if admin is not None:
        drop_postgres_database(admin, engine.url.database)


def _sealed_history(n: int = 6) -> list[int]:
    """Events of a working day, sealed by the command line; returns their ids."""
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    with db.session_scope() as session:
        ids = [
            audit.record(session, None, "test.event", summary=f"第 {i} 件事", detail={"i": i}).id
            for i in range(n)
        ]
    sealed = runner.invoke(app, ["audit", "seal"])
    assert sealed.exit_code == 0 and f"已封存 {n} 条" in sealed.output
    return ids


def _verify() -> tuple[int, str]:
    result = runner.invoke(app, ["audit", "verify"])
    return result.exit_code, result.output


def test_an_untouched_log_verifies(database: Engine) -> None:
    _sealed_history()
    code, output = _verify()
    assert code == 0, output
    assert "审计日志完整" in output and "已封存 6 条" in output
    report = json.loads(runner.invoke(app, ["audit", "verify", "--json"]).output)
    assert report["ok"] is True and report["counts"]["sealed_events"] == 6 and len(report["head"]) == 64


def test_editing_a_sealed_row_is_named(database: Engine) -> None:
    ids = _sealed_history()
    with database.begin() as conn:
        conn.execute(text("UPDATE audit_event SET summary = '无事发生' WHERE id = :id"), {"id": ids[3]})
    code, output = _verify()
    assert code != 0
    assert f"事件 #{ids[3]}" in output and "篡改" in output


def test_deleting_a_sealed_row_is_named(database: Engine) -> None:
    ids = _sealed_history()
    with database.begin() as conn:
        conn.execute(text("DELETE FROM audit_event WHERE id = :id"), {"id": ids[2]})
    code, output = _verify()
    assert code != 0
    assert f"#{ids[2]}" in output and "删除" in output  # the missing event, between its neighbours


def test_a_forged_sealed_row_is_named_even_with_a_correct_hash(database: Engine) -> None:
    ids = _sealed_history()
    with database.begin() as conn:
        last = conn.execute(
            select(AuditEvent.seq, AuditEvent.chain_hash).order_by(AuditEvent.seq.desc())
        ).first()
        seal_id = conn.scalar(select(AuditSeal.id).order_by(AuditSeal.id.desc()))
        assert last is not None
        forged = AuditEvent(
            id=max(ids) + 1,
            seq=last.seq + 1,
            occurred_at=datetime.now(UTC),
            actor_id=None,
            actor_name="admin",
            actor_role="operator",
            department_id=None,
            via="session",
            ip=None,
            action="user.delete",
            object_type="user",
            object_id="1",
            outcome="success",
            summary="伪造：删除用户",
            detail=None,
        )
        forged.chain_hash = audit.chain_digest(
            last.chain_hash, forged.canonical()
        )  # the forger knows SM3 too
        row = {c.name: getattr(forged, c.key) for c in AuditEvent.__table__.columns if c.name != "seal_id"}
        conn.execute(insert(AuditEvent.__table__).values(**row, seal_id=seal_id))
    code, output = _verify()
    assert code != 0
    assert f"事件 #{forged.id}" in output and "伪造" in output


def test_a_forged_row_spliced_into_the_middle_is_named(database: Engine) -> None:
    ids = _sealed_history()
    with database.begin() as conn:
        conn.execute(text("UPDATE audit_event SET seq = seq + 1000 WHERE seq >= 3"))
        conn.execute(text("UPDATE audit_event SET seq = seq - 999 WHERE seq >= 1003"))
        copied = conn.scalar(text("SELECT chain_hash FROM audit_event WHERE seq = 4"))
        conn.execute(
            text(
                "INSERT INTO audit_event (id, occurred_at, actor_name, via, action, outcome, summary, seq, chain_hash)"
                " VALUES (:id, :at, 'forger', 'session', 'x', 'success', '伪造', 3, :hash)"
            ),
            {"id": max(ids) + 1, "at": datetime(2025, 1, 1), "hash": copied},
        )
    code, output = _verify()
    assert code != 0
    assert f"事件 #{max(ids) + 1}" in output
