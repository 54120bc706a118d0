"""僵尸系统研判 through the API, the pages and the command line."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from jutong.core.audit import AuditEvent
from jutong.registry.models import InformationSystem, ZombieReview
from tests.conftest import Org, api_headers, login
from tests.registry.test_zombies import AS_OF, HALF_YEAR, make_system

Q = f"?as_of={AS_OF.isoformat()}"


def _denials(session: Session, username: str) -> list[AuditEvent]:
    session.expire_all()
    stmt = select(AuditEvent).where(AuditEvent.action == "access.denied", AuditEvent.actor_name == username)
    return list(session.scalars(stmt))


def _zombie_city(session: Session, org: Org) -> tuple[InformationSystem, InformationSystem]:
    dead = {m: (0, 0, 1.0, 2.0) for m in HALF_YEAR}
    civil = make_system(
        session,
        org.civil,
        "MZ-001",
        name="婚姻登记旧系统",
        scope="office",
        usage=dead,
        maintained=None,
        description="婚姻登记信息的录入、查询与统计",
    )
    police = make_system(
        session,
        org.police,
        "GA-001",
        name="婚姻数据平台",
        maintained=date(2023, 1, 1),
        description="婚姻登记数据录入查询统计管理",
    )
    make_system(session, org.police, "GA-002", name="健康系统")
    session.commit()
    return civil, police


def test_operator_lists_candidates_with_rules_and_evidence(
    client: TestClient, session: Session, org: Org
) -> None:
    _zombie_city(session, org)
    response = client.get(f"/api/v1/zombies{Q}", headers=api_headers(session, org.operator))
    assert response.status_code == 200
    body = {c["system_code"]: c for c in response.json()}
    assert set(body) == {"MZ-001", "GA-001"}
    assert body["MZ-001"]["rules"] == [
        "no_business",
        "replaceable",
        "idle_resources",
        "no_maintenance",
        "low_usage",
    ]
    assert body["MZ-001"]["department"] == "市民政局"
    assert body["MZ-001"]["evidence"]["replaceable"]["figures"]["similar"][0]["system"] == "婚姻数据平台"
    assert body["GA-001"]["evidence"]["no_maintenance"]["label"] == "停止维护"


def test_thresholds_read_and_changed_through_the_api(client: TestClient, session: Session, org: Org) -> None:
    _zombie_city(session, org)
    headers = api_headers(session, org.operator)
    assert client.get("/api/v1/zombies/thresholds", headers=headers).json()["similarity_threshold"] == 0.6
    changed = client.put("/api/v1/zombies/thresholds", json={"similarity_threshold": 0.99}, headers=headers)
    assert changed.status_code == 200 and changed.json()["similarity_threshold"] == 0.99
    assert changed.json()["no_business_months"] == 6
    rules = {c["system_code"]: c["rules"] for c in client.get(f"/api/v1/zombies{Q}", headers=headers).json()}
    assert "replaceable" not in rules["MZ-001"]
    bad = client.put("/api/v1/zombies/thresholds", json={"similarity_threshold": 2}, headers=headers)
    assert bad.status_code == 422 and bad.json()["code"] == "zombie_thresholds_invalid"
    assert "不能大于 1" in bad.json()["message"]


def test_confirm_and_dismiss_through_the_api(client: TestClient, session: Session, org: Org) -> None:
    civil, police = _zombie_city(session, org)
    headers = api_headers(session, org.operator)
    no_reason = client.post(
        f"/api/v1/zombies/{police.id}/dismiss", json={"as_of": str(AS_OF)}, headers=headers
    )
    assert no_reason.status_code == 422 and no_reason.json()["code"] == "zombie_reason_required"

    confirmed = client.post(
        f"/api/v1/zombies/{civil.id}/confirm", json={"as_of": str(AS_OF)}, headers=headers
    )
    assert confirmed.status_code == 200 and confirmed.json()["decision"] == "confirmed"
    session.expire_all()
    assert session.get(InformationSystem, civil.id).status == "to_retire"  # type: ignore[union-attr]

    dismissed = client.post(
        f"/api/v1/zombies/{police.id}/dismiss",
        json={"reason": "系统仍在使用", "as_of": str(AS_OF)},
        headers=headers,
    )
    assert dismissed.status_code == 200 and dismissed.json()["rules"] == ["replaceable", "no_maintenance"]
    assert client.get(f"/api/v1/zombies{Q}", headers=headers).json() == []
    reviews = client.get("/api/v1/zombies/reviews", headers=headers).json()
    assert [r["decision"] for r in reviews] == ["dismissed", "confirmed"]
    listed = client.get(f"/api/v1/zombies/dismissed{Q}", headers=headers).json()
    assert [(r["system_code"], r["reason"]) for r in listed] == [("GA-001", "系统仍在使用")]


def test_steward_and_consumer_are_refused_and_audited(client: TestClient, session: Session, org: Org) -> None:
    civil, police = _zombie_city(session, org)
    steward, consumer, auditor = (api_headers(session, u) for u in (org.steward, org.consumer, org.auditor))
    own = client.get(f"/api/v1/zombies{Q}", headers=steward)
    assert own.status_code == 200 and [c["system_code"] for c in own.json()] == ["GA-001"]
    refused = client.post(f"/api/v1/zombies/{police.id}/confirm", json={}, headers=steward)
    assert refused.status_code == 403 and refused.json()["code"] == "role_forbidden"
    assert (
        client.put("/api/v1/zombies/thresholds", json={"idle_months": 1}, headers=steward).status_code == 403
    )
    assert len(_denials(session, "ga_steward")) == 2
    assert client.get(f"/api/v1/zombies{Q}", headers=consumer).status_code == 403
    assert client.get("/api/v1/zombies/reviews", headers=consumer).status_code == 403
    assert len(_denials(session, "mz_consumer")) == 2
    assert client.get(f"/api/v1/zombies{Q}", headers=auditor).status_code == 200
    assert (
        client.post(f"/api/v1/zombies/{civil.id}/dismiss", json={"reason": "x"}, headers=auditor).status_code
        == 403
    )
    session.expire_all()
    assert session.scalars(select(ZombieReview)).first() is None


def test_operator_pages_show_tags_evidence_and_decide(client: TestClient, session: Session, org: Org) -> None:
    civil, police = _zombie_city(session, org)
    token = login(client, "op")
    page = client.get(f"/zombies{Q}")
    assert page.status_code == 200
    for text in (
        "婚姻登记旧系统",
        "市民政局",
        "与业务脱节",
        "功能可被替代",
        "资源长期空闲",
        "停止维护",
        "范围小、频度低",
        "最近维护日期未填写",
        "保存阈值",
        "排除理由",
    ):
        assert text in page.text, text
    missing = client.post(
        f"/zombies/{police.id}/dismiss", data={"csrf_token": token, "reason": "", "as_of": str(AS_OF)}
    )
    assert missing.status_code == 422 and "必须填写理由" in missing.text
    done = client.post(
        f"/zombies/{civil.id}/confirm",
        data={"csrf_token": token, "as_of": str(AS_OF)},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert "拟清理" in client.get(done.headers["location"]).text
    saved = client.post("/zombies/thresholds", data={"csrf_token": token, "idle_months": "abc"})
    assert saved.status_code == 422 and "应为数字" in saved.text
    client.post(
        f"/zombies/{police.id}/dismiss", data={"csrf_token": token, "reason": "仍在用", "as_of": str(AS_OF)}
    )
    dismissed_page = client.get(f"/zombies/dismissed{Q}")
    assert "仍在用" in dismissed_page.text and "婚姻登记旧系统" in dismissed_page.text


def test_auditor_page_has_no_decision_forms(client: TestClient, session: Session, org: Org) -> None:
    _zombie_city(session, org)
    login(client, "auditor")
    page = client.get(f"/zombies{Q}")
    assert page.status_code == 200 and "婚姻登记旧系统" in page.text
    assert "确认清理" not in page.text and "保存阈值" not in page.text


def test_cli_prints_candidates_as_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from jutong.cli.main import app, migrate
    from jutong.core import config, db
    from jutong.registry import accounts

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("JUTONG_DATABASE_URL", url)
    config.get_settings.cache_clear()
    saved = (db._engine, db._session_factory)
    db.set_engine(db.make_engine(url))
    try:
        migrate()
        with db.session_scope() as session:
            accounts.upsert_region(session, "341000", "示范市")
            civil = accounts.upsert_department(session, "MZ", "市民政局", "341000")
            make_system(session, civil, "MZ-009", name="低频系统", scope="office", usage={}, maintained=None)
        result = CliRunner().invoke(app, ["systems", "zombies", "--format", "json", "--as-of", "2025-07-15"])
        assert result.exit_code == 0, result.output
        [candidate] = json.loads(result.output)
        assert candidate["system"] == "低频系统" and candidate["system_code"] == "MZ-009"
        assert candidate["department"] == "市民政局"
        assert candidate["rules"] == ["no_business", "no_maintenance", "low_usage"]
        assert "未填写" in candidate["evidence"]["no_maintenance"]["text"]
        assert candidate["evidence"]["low_usage"]["figures"]["avg_users"] == 0
        table = CliRunner().invoke(app, ["systems", "zombies", "--as-of", "2025-07-15"])
        assert table.exit_code == 0 and "低频系统" in table.output
        csv_out = CliRunner().invoke(app, ["systems", "zombies", "--format", "csv", "--as-of", "2025-07-15"])
        assert csv_out.output.splitlines()[0].startswith("system_code,system,department,rules")
    finally:
        db.get_engine().dispose()
        db._engine, db._session_factory = saved
        monkeypatch.delenv("JUTONG_DATABASE_URL")
        config.get_settings.cache_clear()


@pytest.mark.parametrize("as_of", ["2099-01-01", "0001-01-15"])
def test_a_reference_day_in_the_future_or_the_distant_past_is_refused(
    client: TestClient, session: Session, org: Org, as_of: str
) -> None:
    """Evidence made of months that have not happened must not confirm anything."""
    system = make_system(session, org.police, "人口信息管理系统")
    headers = api_headers(session, org.operator)
    listed = client.get("/api/v1/zombies", params={"as_of": as_of}, headers=headers)
    assert listed.status_code == 422 and listed.json()["code"] == "as_of_out_of_range"
    confirmed = client.post(f"/api/v1/zombies/{system.id}/confirm", json={"as_of": as_of}, headers=headers)
    assert confirmed.status_code == 422 and confirmed.json()["code"] == "as_of_out_of_range"
    session.refresh(system)
    assert system.status == "running"
    assert session.scalars(select(ZombieReview)).all() == []
