"""The demo city (示范市): the audited census counts, idempotent loading, and zombies to find."""

from __future__ import annotations

from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from jutong.core import db
from jutong.core.audit import AuditEvent, verify_chain
from jutong.core.security import hash_password
from jutong.demo.city import AUDIT_COUNTS, build_city
from jutong.demo.load import load_demo
from jutong.registry.models import (
    Department,
    Filing,
    FilingKind,
    InformationSystem,
    IntegrationTarget,
    Region,
    SharingStatus,
    SystemUsage,
    User,
)
from jutong.standards.codes import is_valid_uscc

REFERENCE = date(2025, 3, 15)
RULES = ("no_business", "replaceable", "idle_resources", "no_maintenance", "low_usage")


def _snapshot(session: Session) -> dict[str, Any]:
    """Everything the demo writes, row by row."""
    session.expire_all()

    def rows(model: Any, *order: Any) -> list[tuple[Any, ...]]:
        columns = [c for c in model.__table__.columns if c.name not in ("created_at", "updated_at")]
        return [tuple(r) for r in session.execute(select(*columns).order_by(*order)).all()]

    return {
        "regions": rows(Region, Region.code),
        "departments": rows(Department, Department.code),
        "users": rows(User, User.username),
        "targets": rows(IntegrationTarget, IntegrationTarget.name),
        "systems": rows(InformationSystem, InformationSystem.code),
        "usage": rows(SystemUsage, SystemUsage.system_id, SystemUsage.month),
        "filings": rows(Filing, Filing.id),
        "audit_events": session.scalar(select(func.count()).select_from(AuditEvent)),
    }


def test_the_demo_city_matches_the_audit_of_130_systems(session: Session) -> None:
    report = load_demo(session, today=REFERENCE, catalog=False)
    session.commit()

    counts = dict(
        session.execute(
            select(InformationSystem.sharing_status, func.count()).group_by(InformationSystem.sharing_status)
        ).all()
    )
    assert counts == {status.value: n for status, n in AUDIT_COUNTS.items()}
    assert counts == {
        "shared": 40,
        "not_shared": 26,
        "office_internal": 17,
        "department_internal": 37,
        "standalone": 10,
    }
    assert report.created["systems"] == 130 and report.created["departments"] == 30

    city = session.scalar(select(Region).where(Region.code == "341000"))
    assert city is not None and city.name == "示范市"
    districts = session.scalars(
        select(Region.code).where(Region.parent_id == city.id).order_by(Region.code)
    ).all()
    assert districts == ["341002", "341003", "341004", "341005", "341006"]
    names = set(session.scalars(select(Department.name)))
    assert {"示范市公安局", "示范市民政局", "示范市人力资源和社会保障局", "示范市大数据管理局"} <= names

    # twelve months of usage per system: the twelve full months before the reference date
    months = session.execute(select(SystemUsage.month, func.count()).group_by(SystemUsage.month)).all()
    assert dict(months) == {f"2024-{m:02d}": 130 for m in range(3, 13)} | {"2025-01": 130, "2025-02": 130}

    # every census field is filled in, except the one maintenance date left blank on purpose
    systems = session.scalars(select(InformationSystem)).all()
    assert all(s.description and s.approving_department and s.approval_date for s in systems)
    assert all(s.construction_cost > 0 and s.annual_om_budget > 0 for s in systems)
    assert sum(s.last_maintained_on is None for s in systems) == 1
    assert sum(s.protection_assessed for s in systems) == 8  # seed 003: only 8 assessed

    # the connection-required, unconnected system has its O&M filing waiting for review
    filing = session.scalars(
        select(Filing).where(Filing.kind == FilingKind.om.value, Filing.review == "pending")
    ).all()
    om_systems = {session.get(InformationSystem, f.system_id) for f in filing}
    assert any(s is not None and s.connection_required and not s.connected_to_platform for s in om_systems)

    by_user = {u.username: u for u in session.scalars(select(User))}
    assert {by_user[n].role for n in ("admin", "auditor", "gongan", "minzheng", "renshe")} == {
        "operator",
        "auditor",
        "steward",
        "consumer",
    }


def test_loading_twice_changes_nothing_and_keeps_changed_passwords(session: Session) -> None:
    load_demo(session, today=REFERENCE, catalog=False)
    admin = session.scalar(select(User).where(User.username == "admin"))
    assert admin is not None
    admin.password_hash = hash_password("my-own-new-password")
    session.commit()
    before = _snapshot(session)

    again = load_demo(session, today=REFERENCE, catalog=False)
    session.commit()

    assert not again.changed and again.summary() == "数据已齐全，未作改动"
    assert again.existing_users == {"admin", "auditor", "gongan", "minzheng", "renshe"}
    assert _snapshot(session) == before


def test_a_later_load_adds_only_the_new_months(session: Session) -> None:
    load_demo(session, today=REFERENCE, catalog=False)
    later = load_demo(session, today=date(2025, 5, 2), catalog=False)
    assert later.created["usage"] == 2 * 130 and later.created["systems"] == 0
    assert session.scalar(select(func.count()).select_from(SystemUsage)) == 14 * 130


def test_every_zombie_rule_finds_its_demo_systems_and_nothing_else(session: Session) -> None:
    """Whenever the demo is loaded (today), each rule has its true hits and its near misses escape."""
    from jutong.registry.zombies import find_candidates

    report = load_demo(session, catalog=False)
    city = report.city
    found = {c.system_code: set(c.rules) for c in find_candidates(session, as_of=city.reference)}

    expected = {s.code: set(s.expected_rules) for s in city.systems if s.expected_rules}
    assert found == expected
    for rule in RULES:
        hits = [code for code, rules in found.items() if rule in rules]
        assert len(hits) >= 2, f"{rule} 在示范市中应至少命中两个系统"
        near = [s.code for s in city.near_misses_of(rule)]
        assert not set(near) & set(hits), f"{rule} 的临界系统不应命中"
    assert Counter(rule for rules in found.values() for rule in rules) == {
        "no_business": 2,
        "replaceable": 4,  # two pairs
        "idle_resources": 2,
        "no_maintenance": 3,  # two stale dates and one left blank
        "low_usage": 2,
    }
    # near misses exist for the counted rules, just inside each threshold
    named = {s.name: s for s in city.systems}
    assert sum(u.transactions for u in named["渣土运输监管系统"].usage[-6:]) == 1
    assert {u.cpu_utilization for u in named["自然灾害灾情管理系统"].usage[-3:]} == {5.5}
    assert sum(u.active_users for u in named["校车安全管理系统"].usage[-6:]) / 6 == 11


def test_the_sharing_statuses_are_spread_over_departments() -> None:
    city = build_city(REFERENCE)
    per_department = Counter(s.department_code for s in city.systems)
    assert len(per_department) == 30 and min(per_department.values()) >= 2
    assert Counter(s.sharing_status for s in city.systems)[SharingStatus.standalone] == 10
    assert len({s.code for s in city.systems}) == 130
    assert build_city(REFERENCE) == city  # deterministic
    assert all(
        is_valid_uscc(d.credit_code) for d in city.departments
    )  # 统一社会信用代码 with valid check digits


def test_demo_command_loads_seals_and_prints_the_sign_ins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jutong.cli.main import app

    engine = db.make_engine(f"sqlite:///{tmp_path / 'demo.db'}")
    monkeypatch.setattr(db, "_engine", engine)
    monkeypatch.setattr(db, "_session_factory", sessionmaker(bind=engine, expire_on_commit=False))
    runner = CliRunner()

    first = runner.invoke(app, ["demo", "--no-serve"])
    assert first.exit_code == 0, first.output
    for text in (
        "平台管理员",
        "admin",
        "jutong-admin",
        "审计人员",
        "gongan",
        "公安局",
        "minzheng",
        "民政局",
        "renshe",
    ):
        assert text in first.output
    second = runner.invoke(app, ["demo", "--no-serve"])
    assert second.exit_code == 0 and "未作改动" in second.output

    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(InformationSystem)) == 130
        report = verify_chain(session)
        assert report.ok and report.unsealed_events == 0 and report.sealed_events >= 6
    engine.dispose()
