"""整合清单 and 经费备案 through the API and the pages."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from jutong.core.audit import AuditEvent
from tests.conftest import Org, api_headers, login
from tests.registry.test_zombies import make_system


def _denials(session: Session, username: str) -> int:
    session.expire_all()
    stmt = select(AuditEvent).where(AuditEvent.action == "access.denied", AuditEvent.actor_name == username)
    return len(list(session.scalars(stmt)))


def test_steward_plans_through_the_api(client: TestClient, session: Session, org: Org) -> None:
    a = make_system(session, org.civil, "MZ-1", scope="office")
    b = make_system(session, org.civil, "MZ-2", scope="office")
    headers = api_headers(session, org.civil_steward)
    created = client.post(
        f"/api/v1/plans/{org.civil.id}/targets", json={"name": "民政大系统"}, headers=headers
    )
    assert created.status_code == 201
    target_id = created.json()["id"]
    planned = client.post(
        f"/api/v1/systems/{a.id}/integration",
        json={"target_id": target_id, "state": "planned"},
        headers=headers,
    )
    assert planned.status_code == 200 and planned.json()["status_label"] == "拟整合"
    done = client.post(f"/api/v1/systems/{a.id}/integration", json={"state": "done"}, headers=headers)
    assert done.json()["status"] == "retired" and done.json()["integration_state_label"] == "已整合"
    plan = client.get(f"/api/v1/plans/{org.civil.id}", headers=headers).json()
    assert plan["progress"]["done"] == 1 and plan["progress"]["total"] == 1
    assert plan["progress"]["must_unassigned"] == 1 and [s["id"] for s in plan["unassigned_must"]] == [b.id]
    assert [p["department"] for p in client.get("/api/v1/plans", headers=headers).json()] == ["市民政局"]


def test_steward_of_another_department_is_refused_and_audited(
    client: TestClient, session: Session, org: Org
) -> None:
    system = make_system(session, org.civil, "MZ-1", scope="office")
    headers = api_headers(session, org.steward)
    refused = client.post(f"/api/v1/plans/{org.civil.id}/targets", json={"name": "越权"}, headers=headers)
    assert refused.status_code == 403 and refused.json()["code"] == "department_forbidden"
    assert client.get(f"/api/v1/plans/{org.civil.id}", headers=headers).status_code == 403
    moved = client.post(f"/api/v1/systems/{system.id}/integration", json={"state": "none"}, headers=headers)
    assert moved.status_code == 403
    assert _denials(session, "ga_steward") == 3
    consumer = api_headers(session, org.consumer)
    assert client.get("/api/v1/plans", headers=consumer).status_code == 403
    assert client.get("/api/v1/filings", headers=consumer).status_code == 403
    assert _denials(session, "mz_consumer") == 2


def test_filings_through_the_api(client: TestClient, session: Session, org: Org) -> None:
    unconnected = make_system(session, org.civil, "MZ-1", connection_required=True, connected=False)
    connected = make_system(session, org.civil, "MZ-2", connection_required=True, connected=True)
    steward, operator, auditor = (
        api_headers(session, u) for u in (org.civil_steward, org.operator, org.auditor)
    )
    first = client.post(
        "/api/v1/filings",
        json={
            "system_id": unconnected.id,
            "kind": "om",
            "fiscal_year": 2026,
            "amount": "20",
            "note": "年度运维",
        },
        headers=steward,
    )
    assert first.status_code == 201
    assert first.json()["review"] == "no_om_funding" and first.json()["review_label"] == "不予安排运维经费"
    second = client.post(
        "/api/v1/filings",
        json={"system_id": connected.id, "kind": "om", "fiscal_year": 2026, "amount": 20},
        headers=steward,
    )
    assert second.json()["review"] == "pending" and second.json()["proposal"]["result"] == "approved"
    reviewed = client.post(
        f"/api/v1/filings/{second.json()['id']}/review", json={"result": "approved"}, headers=operator
    )
    assert reviewed.status_code == 200 and reviewed.json()["reviewed_by"] == "op"
    assert (
        client.post(f"/api/v1/filings/{first.json()['id']}/review", json={}, headers=steward).status_code
        == 403
    )
    listed = client.get("/api/v1/filings", headers=auditor).json()
    assert {f["system_code"]: f["review"] for f in listed} == {"MZ-1": "no_om_funding", "MZ-2": "approved"}
    assert (
        client.post(
            "/api/v1/filings",
            json={"system_id": connected.id, "kind": "om", "fiscal_year": 2027, "amount": 1},
            headers=auditor,
        ).status_code
        == 403
    )


def test_plan_pages(client: TestClient, session: Session, org: Org) -> None:
    make_system(session, org.civil, "MZ-1", name="低保审批系统", scope="office")
    session.commit()
    token = login(client, "mz_steward")
    overview = client.get("/plans")
    assert overview.status_code == 200 and "市民政局" in overview.text and "市公安局" not in overview.text
    page = client.get(f"/plans/{org.civil.id}")
    assert "低保审批系统" in page.text and "必须整合" in page.text and "请先新建整合目标" in page.text
    created = client.post(
        f"/plans/{org.civil.id}/targets",
        data={"csrf_token": token, "name": "民政大系统"},
        follow_redirects=False,
    )
    assert created.status_code == 303
    page = client.get(f"/plans/{org.civil.id}")
    assert "民政大系统" in page.text and "纳入整合" in page.text
    assert client.get(f"/plans/{org.police.id}").status_code == 403


def test_filing_pages(client: TestClient, session: Session, org: Org) -> None:
    system = make_system(session, org.civil, "MZ-1", name="救助系统", connection_required=True)
    session.commit()
    token = login(client, "mz_steward")
    form = client.get("/filings")
    assert "提交备案" in form.text and "救助系统" in form.text
    bad = client.post(
        "/filings",
        data={"csrf_token": token, "system_id": system.id, "kind": "om", "fiscal_year": 2026, "amount": "-1"},
    )
    assert bad.status_code == 422 and "金额应为正数" in bad.text
    sent = client.post(
        "/filings",
        data={"csrf_token": token, "system_id": system.id, "kind": "om", "fiscal_year": 2026, "amount": "8"},
        follow_redirects=False,
    )
    assert sent.status_code == 303
    listed = client.get("/filings").text
    assert "不予安排运维经费" in listed and "平台自动研判" in listed and ">审核<" not in listed
    client.post("/logout", data={"csrf_token": token})
    login(client, "op")
    review_page = client.get("/filings").text
    assert "救助系统" in review_page and ">审核<" in review_page and "提交备案" not in review_page
